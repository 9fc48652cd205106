"""The operators' shift hand-over: at the shift change the outgoing operator hands
over the open alerts and the callbacks due in their areas, with notes; the incoming
operator acknowledges it. What was handed over is kept as it stood then."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from dispatch.domain.access import Principal
from dispatch.domain.areas import CITY_WIDE, overlap
from dispatch.domain.lifecycle import OPEN_ALERT_STATES
from dispatch.emergency.operators import CallbackOutcome
from dispatch.errors import Conflict, Forbidden, NotFound
from dispatch.store.db import Database
from dispatch.store.reads import in_areas
from dispatch.store.tables import Alert, AuditRecord, ShiftHandover

# How many hand-overs a list answers at most (a day has a few).
LIST_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Situation:
    """What is on the desk now in an operator's areas."""

    open_alerts: list[dict[str, Any]]
    callbacks_due: list[dict[str, Any]]  # open alerts whose last call back found nobody


def _areas(principal: Principal) -> list[str]:
    return [CITY_WIDE] if principal.sees_every_area else sorted(principal.areas)


def situation(session: Session, principal: Principal) -> Situation:
    """The open alerts in the principal's areas, oldest first, and the callbacks due."""
    query = in_areas(
        select(Alert).where(col(Alert.state).in_([s.value for s in OPEN_ALERT_STATES])),
        principal,
    ).order_by(col(Alert.raised_at), col(Alert.id))
    alerts = list(session.exec(query))
    callbacks = session.execute(
        sa_select(
            col(AuditRecord.alert_id),
            col(AuditRecord.at),
            col(AuditRecord.actor),
            col(AuditRecord.detail),
        )
        .where(
            col(AuditRecord.alert_id).in_([a.id for a in alerts]),
            col(AuditRecord.action) == "callback",
        )
        .order_by(col(AuditRecord.at), col(AuditRecord.id))
    ).all()
    last: dict[UUID, tuple[datetime, str, dict[str, Any]]] = {}
    for alert_id, at, actor, detail in callbacks:
        last[alert_id] = (at, actor, detail)  # the latest wins
    due = [
        {
            "alert_id": str(alert_id),
            "at": at.isoformat(),
            "by": actor,
            "note": detail.get("note", ""),
        }
        for alert_id, (at, actor, detail) in last.items()
        if detail.get("outcome") == CallbackOutcome.NO_ANSWER.value
    ]
    return Situation(
        open_alerts=[
            {
                "alert_id": str(a.id),
                "alert_type": a.alert_type,
                "severity": a.severity,
                "state": a.state.value,
                "district": a.district,
                "street": a.street,
                "community": a.community,
                "raised_at": a.raised_at.isoformat(),
                "acknowledged_by": a.acknowledged_by,
            }
            for a in alerts
        ],
        callbacks_due=sorted(due, key=lambda c: c["at"]),
    )


def hand_over(db: Database, principal: Principal, notes: str, *, at: datetime) -> ShiftHandover:
    """The outgoing operator hands over what is on the desk now, with ``notes``."""
    with db.session() as session:
        now = situation(session, principal)
        record = ShiftHandover(
            handed_by=principal.username,
            handed_at=at,
            areas=_areas(principal),
            notes=notes,
            open_alerts=now.open_alerts,
            callbacks_due=now.callbacks_due,
        )
        session.add(record)
        return record


def visible(record: ShiftHandover, principal: Principal) -> bool:
    """A hand-over is for those whose areas share ground with the one it covers."""
    if principal.sees_every_area:
        return True
    return any(overlap(mine, its) for mine in principal.areas for its in record.areas)


def listed(session: Session, principal: Principal, *, pending: bool) -> list[ShiftHandover]:
    """Hand-overs the principal may take, newest first; ``pending``: not yet acknowledged."""
    query = select(ShiftHandover)
    if pending:
        query = query.where(col(ShiftHandover.acknowledged_at).is_(None))
    query = query.order_by(col(ShiftHandover.handed_at).desc()).limit(LIST_LIMIT)
    return [r for r in session.exec(query) if visible(r, principal)]


def acknowledge(
    db: Database, handover_id: UUID, principal: Principal, *, at: datetime
) -> ShiftHandover:
    """The incoming operator takes the hand-over; not its own author, and only once."""
    with db.session() as session:
        record = session.get(ShiftHandover, handover_id, with_for_update=True)
        if record is None:
            raise NotFound("shift hand-over", str(handover_id))
        if not visible(record, principal):
            raise Forbidden("this hand-over covers none of your areas")
        if record.handed_by == principal.username:
            raise Conflict("the incoming operator acknowledges a hand-over, not its author")
        if record.acknowledged_at is not None:
            raise Conflict(f"already acknowledged by {record.acknowledged_by}")
        record.acknowledged_by, record.acknowledged_at = principal.username, at
        session.add(record)
        return record
