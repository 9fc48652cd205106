"""The facts of a month the monthly report counts: its alerts (answered, a caregiver
sent, on scene by the deadline, the closure code) and its visits' follow-up ratings,
for one district or the whole city."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import exists
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from dispatch.domain.monthly_kpis import AlertFact
from dispatch.store.alert_history import TAKEN_ORDER_STATES, on_scene
from dispatch.store.tables import Alert, Elder, FollowUp, Order, Visit


def alert_facts(
    session: Session, start: datetime, end: datetime, district: str | None
) -> list[AlertFact]:
    """The alerts raised in [start, end), of ``district`` (None: every district)."""
    sent = (
        exists()
        .where(
            col(Order.alert_id) == col(Alert.id),
            col(Order.state).in_([s.value for s in TAKEN_ORDER_STATES]),
        )
        .correlate(Alert)
    )
    query = sa_select(
        col(Alert.raised_at),
        col(Alert.acknowledged_at),
        col(Alert.closure_code),
        sent,
        on_scene(by_deadline=True),
    ).where(col(Alert.raised_at) >= start, col(Alert.raised_at) < end)
    if district is not None:
        query = query.where(col(Alert.district) == district)
    return [
        AlertFact(raised, acked, code, bool(was_sent), bool(reached))
        for raised, acked, code, was_sent, reached in session.execute(query).all()
    ]


def ratings(session: Session, first: date, last: date, district: str | None) -> list[int]:
    """Follow-up satisfaction (1-5) of the visits made on days first..last."""
    query = (
        sa_select(col(FollowUp.satisfaction))
        .join(Visit, col(Visit.id) == col(FollowUp.visit_id))
        .join(Elder, col(Elder.id) == col(Visit.elder_id))
        .where(col(Visit.day).between(first, last), col(FollowUp.satisfaction).is_not(None))
    )
    if district is not None:
        query = query.where(col(Elder.district) == district)
    return [int(s) for (s,) in session.execute(query).all()]
