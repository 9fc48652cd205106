"""What call-centre operators do with alerts; every change is audited with who and when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlmodel import Session, col, select

from dispatch.domain.actor import Actor
from dispatch.domain.lifecycle import (
    OPEN_ALERT_STATES,
    AlertState,
)
from dispatch.emergency import offers
from dispatch.emergency.handover import awaiting_outcome
from dispatch.errors import Conflict, NotFound
from dispatch.store.audit import (
    close_alert,
    move_alert,
    record_note,
    withdraw_orders,
)
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Caregiver, Order


class CallbackOutcome(StrEnum):
    """What the operator learnt calling the elder back."""

    REACHED_OK = "reached_ok"
    REACHED_NEEDS_HELP = "reached_needs_help"
    NO_ANSWER = "no_answer"
    FALSE_ALARM = "false_alarm"


@dataclass(frozen=True, slots=True)
class Estimate:
    """Where a hand-picked caregiver is and how long they need."""

    eta_s: float
    distance_m: float


def _actor(operator: str) -> Actor:
    return Actor.operator(operator)


def _open_alert(session: Session, alert_id: UUID) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFound("alert", str(alert_id))
    return alert


def _closable(session: Session, alert_id: UUID) -> Alert:
    alert = _open_alert(session, alert_id)
    if awaiting_outcome(session, alert_id):
        raise Conflict(f"alert {alert_id} was handed over; record the outcome before closing it")
    return alert


def acknowledge(
    db: Database, alert_ids: Sequence[UUID], operator: str, *, at: datetime
) -> list[Alert]:
    """An operator takes ownership of open alerts (one, or a flood from one cause).

    Alerts already acknowledged keep their first owner; closed ones are skipped.
    Raises NotFound, changing nothing, if any id is unknown.
    """
    with db.session() as session:
        alerts = list(
            session.exec(select(Alert).where(col(Alert.id).in_(alert_ids)).with_for_update()).all()
        )
        missing = set(alert_ids) - {a.id for a in alerts}
        if missing:
            raise NotFound("alert", str(sorted(missing)[0]))
        taken = []
        for alert in alerts:
            if alert.state not in OPEN_ALERT_STATES or alert.acknowledged_at is not None:
                continue
            alert.acknowledged_at, alert.acknowledged_by = at, operator
            session.add(alert)
            record_note(
                session,
                alert,
                action="acknowledged",
                actor=_actor(operator),
                at=at,
                detail={"bulk": len(alert_ids) > 1},
            )
            taken.append(alert)
        return taken


def add_note(db: Database, alert_id: UUID, operator: str, text: str, *, at: datetime) -> Alert:
    with db.session() as session:
        alert = _open_alert(session, alert_id)
        record_note(
            session, alert, action="note", actor=_actor(operator), at=at, detail={"text": text}
        )
        return alert


def record_callback(
    db: Database,
    alert_id: UUID,
    operator: str,
    outcome: CallbackOutcome,
    note: str,
    *,
    at: datetime,
) -> Alert:
    """Audit a call back to the elder; cancelling a false alarm is a separate step."""
    with db.session() as session:
        alert = _open_alert(session, alert_id)
        record_note(
            session,
            alert,
            action="callback",
            actor=_actor(operator),
            at=at,
            detail={"outcome": outcome.value, "note": note},
        )
        return alert


def assign(
    db: Database,
    alert_id: UUID,
    caregiver_id: UUID,
    operator: str,
    estimate: Estimate,
    *,
    at: datetime,
    offer_timeout_s: float,
) -> Order:
    """Offer the alert to a caregiver chosen by hand, withdrawing any current order.

    Raises NotFound, IllegalTransition (a closed alert) or Conflict (the caregiver
    is on another emergency), changing nothing.
    """
    with db.session() as session:
        alert = _open_alert(session, alert_id)
        caregiver = session.get(Caregiver, caregiver_id)
        if caregiver is None or not caregiver.active:
            raise NotFound("caregiver", str(caregiver_id))
        if alert.state not in OPEN_ALERT_STATES:
            move_alert(session, alert, AlertState.DISPATCHING, actor=_actor(operator), at=at)
        withdraw_orders(
            session, alert, actor=_actor(operator), at=at, reason="reassigned by an operator"
        )
        if alert.state in (AlertState.OFFERED, AlertState.ACCEPTED, AlertState.EN_ROUTE):
            move_alert(session, alert, AlertState.DISPATCHING, actor=_actor(operator), at=at)
        alert.claimed_until = None
        order = offers.offer(
            session,
            alert,
            caregiver_id,
            eta_s=estimate.eta_s,
            distance_m=estimate.distance_m,
            at=at,
            timeout_s=offer_timeout_s,
            actor=_actor(operator),
            detail={"reason": "chosen by an operator"},
        )
        if order is None:
            raise Conflict(f"caregiver {caregiver.name} is on another emergency")
        return order


def cancel(
    db: Database, alert_id: UUID, operator: str, reason: str, code: str, *, at: datetime
) -> Alert:
    """Close an alert as a false alarm (or otherwise not needed), with its closure code."""
    with db.session() as session:
        alert = _closable(session, alert_id)
        close_alert(
            session,
            alert,
            AlertState.CANCELLED,
            actor=_actor(operator),
            at=at,
            reason=reason,
            detail={"reason": reason, "code": code},
        )
        alert.closure_code, alert.closure_note = code, reason
        session.add(alert)
        return alert


def escalate(db: Database, alert_id: UUID, operator: str, reason: str, *, at: datetime) -> Alert:
    """Hand the alert to a supervisor: back on top of the queue, unowned."""
    with db.session() as session:
        alert = _open_alert(session, alert_id)
        if alert.state not in OPEN_ALERT_STATES:
            raise Conflict(f"alert {alert_id} is already {alert.state}")
        alert.escalation_reason = reason
        alert.acknowledged_at, alert.acknowledged_by = None, None
        session.add(alert)
        if alert.state in (AlertState.RAISED, AlertState.DISPATCHING, AlertState.OFFERED):
            withdraw_orders(
                session, alert, actor=_actor(operator), at=at, reason="escalated to a supervisor"
            )
            move_alert(
                session,
                alert,
                AlertState.ESCALATED,
                actor=_actor(operator),
                at=at,
                detail={"reason": reason, "to": "supervisor"},
            )
        else:
            record_note(
                session,
                alert,
                action="escalated",
                actor=_actor(operator),
                at=at,
                detail={"reason": reason, "to": "supervisor"},
            )
        return alert


def resolve(
    db: Database, alert_id: UUID, operator: str, code: str, note: str, *, at: datetime
) -> Alert:
    """Close an alert the operator saw through (on scene, or escalated and handled),
    with its closure code (validated against the catalogue by the caller)."""
    with db.session() as session:
        alert = _closable(session, alert_id)
        close_alert(
            session,
            alert,
            AlertState.RESOLVED,
            actor=_actor(operator),
            at=at,
            reason="resolved by an operator",
            detail={"note": note, "code": code},
        )
        alert.closure_code, alert.closure_note = code, note
        session.add(alert)
        return alert
