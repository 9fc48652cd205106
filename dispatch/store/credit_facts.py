"""A month's credit facts per caregiver (dispatch/domain/credit.py): emergency
offers and how they ended, arrivals against the deadline, home visits started at
the address or away, kept or missed, and their follow-up ratings."""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from dispatch.domain.credit import CreditFacts, CreditPolicy, parse_policy
from dispatch.domain.lifecycle import OrderState, VisitState
from dispatch.store.alert_history import TAKEN_ORDER_STATES
from dispatch.store.tables import Alert, AuditRecord, FollowUp, Order, Visit


def credit_facts(
    session: Session,
    start: datetime,
    end: datetime,
    first: date,
    last: date,
    *,
    away_radius_m: float,
) -> dict[uuid.UUID, CreditFacts]:
    """Per caregiver: offers made in [start, end), arrivals on scene in it, and the
    visits of days first..last (as the lead caregiver)."""
    # Per caregiver, CreditFacts's counting fields by name.
    counts: defaultdict[uuid.UUID, defaultdict[str, Any]] = defaultdict(lambda: defaultdict(int))
    ratings: defaultdict[uuid.UUID, list[int]] = defaultdict(list)

    taken = {s.value for s in TAKEN_ORDER_STATES}
    for who, state in session.execute(
        sa_select(col(Order.caregiver_id), col(Order.state)).where(
            col(Order.offered_at) >= start, col(Order.offered_at) < end
        )
    ).all():
        value = state.value if isinstance(state, OrderState) else str(state)
        if value in taken:
            counts[who]["offers_accepted"] += 1
        elif value == OrderState.DECLINED:
            counts[who]["offers_declined"] += 1
        elif value == OrderState.EXPIRED:
            counts[who]["offers_expired"] += 1

    for who, at, deadline in session.execute(
        sa_select(col(Order.caregiver_id), col(AuditRecord.at), col(Alert.deadline_at))
        .join(Order, col(Order.id) == col(AuditRecord.order_id))
        .join(Alert, col(Alert.id) == col(AuditRecord.alert_id))
        .where(
            col(AuditRecord.entity) == "order",
            col(AuditRecord.to_state) == OrderState.ON_SCENE.value,
            col(AuditRecord.at) >= start,
            col(AuditRecord.at) < end,
        )
    ).all():
        on_time = deadline is None or at <= deadline
        counts[who]["arrived_on_time" if on_time else "arrived_late"] += 1

    visit: Any
    for visit in session.execute(
        sa_select(
            col(Visit.caregiver_id),
            col(Visit.state),
            col(Visit.started_at),
            col(Visit.start_distance_m),
        ).where(col(Visit.day).between(first, last), col(Visit.caregiver_id).is_not(None))
    ).all():
        who, state, started, distance_m = visit
        if started is not None:
            away = distance_m is not None and distance_m > away_radius_m
            counts[who]["visits_started_away" if away else "visits_started_at_address"] += 1
        if state == VisitState.DONE:
            counts[who]["visits_done"] += 1
        elif state == VisitState.MISSED:
            counts[who]["visits_missed"] += 1

    for who, rating in session.execute(
        sa_select(col(Visit.caregiver_id), col(FollowUp.satisfaction))
        .join(Visit, col(Visit.id) == col(FollowUp.visit_id))
        .where(
            col(Visit.day).between(first, last),
            col(Visit.caregiver_id).is_not(None),
            col(FollowUp.satisfaction).is_not(None),
        )
    ).all():
        ratings[who].append(int(rating))

    return {
        who: CreditFacts(**counts[who], ratings=tuple(ratings.get(who, ())))
        for who in set(counts) | set(ratings)
    }


@functools.cache
def load_credit_policy(path: Path) -> CreditPolicy:
    """config/credit.yaml (read once per path); ValueError names what is wrong."""
    return parse_policy(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
