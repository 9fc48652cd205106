"""State changes on rows, each written with its audit record in the same transaction.

The domain's state machines decide whether a move is legal; these functions apply
it to the rows and append the audit record, which doubles as the live event's
outbox (see AuditRecord). The caller commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from dispatch.domain.actor import Actor
from dispatch.domain.areas import Place
from dispatch.domain.device_effects import NOWHERE, OpenAlert
from dispatch.domain.lifecycle import (
    ACTIVE_ORDER_STATES,
    AlertState,
    OrderState,
    advance_alert,
    advance_order,
    alert_follows,
)
from dispatch.domain.live_events import (
    AlertFields,
    LiveEventType,
    alert_event,
    transition_event,
)
from dispatch.domain.model import AlertType
from dispatch.store.tables import Alert, AuditRecord, Elder, Order


def _record(
    session: Session,
    *,
    alert: Alert,
    order: Order | None,
    entity: str,
    from_state: str | None,
    actor: Actor,
    at: datetime,
    detail: dict[str, Any] | None,
    action: str | None = None,
) -> AuditRecord:
    to_state = order.state.value if entity == "order" and order else alert.state.value
    record = AuditRecord(
        action=action,
        alert_id=alert.id,
        order_id=order.id if order else None,
        caregiver_id=order.caregiver_id if order else None,
        entity=entity,
        from_state=from_state,
        to_state=to_state,
        actor=str(actor),
        at=at,
        detail=detail or {},
    )
    elder = session.get(Elder, alert.elder_id) if order and alert.elder_id else None
    # The JSON column holds the message as it goes on the wire.
    record.event = dict(transition_event(record, alert, order, elder))
    session.add(record)
    return record


def new_alert(
    kind: AlertType,
    *,
    device_id: str | None,
    elder: Elder | None,
    lat: float,
    lon: float,
    at: datetime,
    device_ts: datetime,
) -> OpenAlert:
    """A new alert of ``kind``, born raised (not yet audited nor stored)."""
    return OpenAlert.born(
        kind,
        id=uuid.uuid4(),
        device_id=device_id,
        elder_id=elder.id if elder else None,
        place=(lat, lon),
        area=Place.known(elder.district, elder.street, elder.community) if elder else NOWHERE,
        at=at,
        device_ts=device_ts,
    )


def alert_record(
    alert: AlertFields,
    *,
    from_state: str | None,
    actor: Actor,
    at: datetime,
    detail: dict[str, Any],
    action: str | None = None,
) -> dict[str, Any]:
    """The audit record of something that happened to an alert, as a row to insert
    with the batch's others (what _record writes as a row object)."""
    to_state = alert.state.value
    return {
        "alert_id": alert.id,
        "order_id": None,
        "caregiver_id": None,
        "entity": "alert",
        "from_state": from_state,
        "to_state": to_state,
        "actor": str(actor),
        "action": action,
        "at": at,
        "detail": detail,
        "event": alert_event(
            LiveEventType.of_transition("alert", to_state, action),
            alert,
            at=at,
            actor=str(actor),
            from_state=from_state,
            detail=detail,
        ),
        "published": False,
        "lease_until": None,
    }


def raise_alert(
    session: Session,
    kind: AlertType,
    *,
    device_id: str | None,
    elder: Elder | None,
    lat: float,
    lon: float,
    at: datetime,
    device_ts: datetime,
    actor: Actor,
) -> Alert:
    """A new alert of ``kind``, born raised and audited (the caller commits)."""
    values = new_alert(
        kind, device_id=device_id, elder=elder, lat=lat, lon=lon, at=at, device_ts=device_ts
    )
    alert = Alert(**values.row())
    session.add(alert)
    _record(
        session,
        alert=alert,
        order=None,
        entity="alert",
        from_state=None,
        actor=actor,
        at=at,
        detail={"press_count": alert.press_count},
    )
    return alert


def record_note(
    session: Session,
    alert: Alert,
    *,
    action: str,
    actor: Actor,
    at: datetime,
    detail: dict[str, Any],
) -> AuditRecord:
    """Audit something that happened to an alert without changing its state.

    ``action`` names it ("merged", "acknowledged"); the live event is ``alert.<action>``.
    """
    return _record(
        session,
        alert=alert,
        order=None,
        entity="alert",
        from_state=alert.state.value,
        actor=actor,
        at=at,
        detail=detail,
        action=action,
    )


def move_alert(
    session: Session,
    alert: Alert,
    target: AlertState,
    *,
    actor: Actor,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Move an alert, or raise IllegalTransition and change nothing."""
    previous = alert.state
    alert.state = advance_alert(previous, target)
    alert.updated_at = at
    session.add(alert)
    return _record(
        session,
        alert=alert,
        order=None,
        entity="alert",
        from_state=previous.value,
        actor=actor,
        at=at,
        detail=detail,
    )


def _other_active_orders(session: Session, order: Order) -> list[Order]:
    query = select(Order).where(
        Order.alert_id == order.alert_id,
        Order.id != order.id,
        col(Order.state).in_(ACTIVE_ORDER_STATES),
    )
    return list(session.exec(query).all())


def move_order(
    session: Session,
    order: Order,
    alert: Alert,
    target: OrderState,
    *,
    actor: Actor,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> list[AuditRecord]:
    """Move an order and the alert that follows it; both moves are checked first.

    Completing an order withdraws the alert's other offers still unanswered.
    """
    previous = order.state
    new_state = advance_order(previous, target)
    others = _other_active_orders(session, order)
    withdrawn = []
    if new_state == OrderState.COMPLETED:
        withdrawn = [o for o in others if o.state == OrderState.OFFERED]
        others = [o for o in others if o.state != OrderState.OFFERED]
    alert_target = alert_follows(alert.state, new_state, others_active=bool(others))
    if alert_target is not None:
        advance_alert(alert.state, alert_target)  # refuse before changing anything
    order.state = new_state
    order.updated_at = at
    session.add(order)
    records = [
        _record(
            session,
            alert=alert,
            order=order,
            entity="order",
            from_state=previous.value,
            actor=actor,
            at=at,
            detail=detail,
        )
    ]
    for offer in withdrawn:
        records += move_order(
            session,
            offer,
            alert,
            OrderState.CANCELLED,
            actor=actor,
            at=at,
            detail={"reason": "the alert was completed by another caregiver"},
        )
    if alert_target is not None:
        # A completion's closure code and note are the alert's closing reason too.
        closing = {
            k: v
            for k, v in (detail or {}).items()
            if new_state == OrderState.COMPLETED and k in ("code", "note")
        }
        records.append(
            move_alert(session, alert, alert_target, actor=actor, at=at, detail=closing or None)
        )
    return records


def record_offered(
    session: Session,
    order: Order,
    alert: Alert,
    *,
    actor: Actor,
    at: datetime,
    detail: dict[str, Any],
) -> list[AuditRecord]:
    """Audit a new offer (an order born offered); a waiting alert moves to offered.

    An alert already offered or under way (a second caregiver for a two-person
    alert) keeps its state.
    """
    records = [
        _record(
            session,
            alert=alert,
            order=order,
            entity="order",
            from_state=None,
            actor=actor,
            at=at,
            detail=detail,
        )
    ]
    if alert.state == AlertState.ESCALATED:
        records.append(move_alert(session, alert, AlertState.DISPATCHING, actor=actor, at=at))
    if alert.state in (AlertState.RAISED, AlertState.DISPATCHING):
        if alert.state == AlertState.RAISED:
            records.append(move_alert(session, alert, AlertState.DISPATCHING, actor=actor, at=at))
        records.append(move_alert(session, alert, AlertState.OFFERED, actor=actor, at=at))
    return records


def withdraw_orders(
    session: Session, alert: Alert, *, actor: Actor, at: datetime, reason: str
) -> None:
    """Cancel the alert's active orders (the caregivers see it on their app)."""
    active = session.exec(
        select(Order).where(Order.alert_id == alert.id, col(Order.state).in_(ACTIVE_ORDER_STATES))
    ).all()
    for order in active:
        move_order(
            session,
            order,
            alert,
            OrderState.CANCELLED,
            actor=actor,
            at=at,
            detail={"reason": reason},
        )


def close_alert(
    session: Session,
    alert: Alert,
    target: AlertState,
    *,
    actor: Actor,
    at: datetime,
    reason: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Resolve or cancel an alert, calling off whoever is still on it."""
    advance_alert(alert.state, target)  # refuse before withdrawing anything
    withdraw_orders(session, alert, actor=actor, at=at, reason=reason)
    if alert.state != target:
        move_alert(session, alert, target, actor=actor, at=at, detail=detail or {"reason": reason})
