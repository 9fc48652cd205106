"""What a caregiver does with an order: accept, decline, set off, arrive, complete."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import or_
from sqlmodel import Session, col, select

from dispatch.domain.actor import Actor
from dispatch.domain.catalog import Catalog
from dispatch.domain.lifecycle import OrderState, VisitState
from dispatch.errors import NotFound
from dispatch.live.outbox import Claim, Outbox
from dispatch.store import replies
from dispatch.store.audit import move_order, raise_alert
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Elder, Order, Visit


class CaregiverAction(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    EN_ROUTE = "en_route"
    ARRIVE = "arrive"
    COMPLETE = "complete"
    NEED_HELP = "need_help"  # raises a backup alert at the same door


ORDER_STATE_FOR_ACTION: dict[CaregiverAction, OrderState] = {
    CaregiverAction.ACCEPT: OrderState.ACCEPTED,
    CaregiverAction.DECLINE: OrderState.DECLINED,
    CaregiverAction.EN_ROUTE: OrderState.EN_ROUTE,
    CaregiverAction.ARRIVE: OrderState.ON_SCENE,
    CaregiverAction.COMPLETE: OrderState.COMPLETED,
}


def order_reply(ref: str | None, order: Order) -> dict[str, Any]:
    """The app's answer to an order move (docs/protocol.md)."""
    return {
        "type": "reply",
        "ref": ref,
        "ok": True,
        "order_id": str(order.id),
        "state": order.state.value,
    }


def help_reply(ref: str | None, order_id: UUID, backup: Alert) -> dict[str, Any]:
    """The app's answer to a call for help: the backup alert raised."""
    return {
        "type": "reply",
        "ref": ref,
        "ok": True,
        "order_id": str(order_id),
        "backup_alert_id": str(backup.id),
    }


def act_on_order(
    db: Database,
    caregiver_id: UUID,
    order_id: UUID,
    action: CaregiverAction,
    *,
    at: datetime,
    detail: dict[str, Any] | None = None,
    ref: str | None = None,
) -> Order:
    """Apply a caregiver's action; raises NotFound or IllegalTransition, changing nothing.

    An order of another caregiver is reported as not found, so nothing leaks. With
    a ``ref``, the answer is kept with the move (dispatch/store/replies.py).
    """
    with db.session() as session:
        return _move(session, caregiver_id, order_id, action, at=at, detail=detail, ref=ref)


def act_and_claim(
    db: Database,
    outbox: Outbox,
    caregiver_id: UUID,
    order_id: UUID,
    action: CaregiverAction,
    *,
    at: datetime,
    detail: dict[str, Any] | None = None,
    ref: str | None = None,
) -> tuple[Order, Claim]:
    """:func:`act_on_order`, claiming the live events waiting (the move's with them)
    in the same transaction; the caller hands them to ``outbox.publish_claimed``
    after the commit. Each answer cost an outbox claim transaction of its own
    (three per order in the press bench: accept, arrive, complete)."""
    with db.session() as session:
        order = _move(session, caregiver_id, order_id, action, at=at, detail=detail, ref=ref)
        return order, outbox.claim_in(session)


def _move(
    session: Session,
    caregiver_id: UUID,
    order_id: UUID,
    action: CaregiverAction,
    *,
    at: datetime,
    detail: dict[str, Any] | None,
    ref: str | None,
) -> Order:
    if action is CaregiverAction.NEED_HELP:
        raise ValueError("need_help is not an order move; call request_help")
    order = session.get(Order, order_id, with_for_update=True)
    if order is None or order.caregiver_id != caregiver_id:
        raise NotFound("order", str(order_id))
    alert = session.get(Alert, order.alert_id, with_for_update=True)
    assert alert is not None  # foreign key
    detail = dict(detail or {})
    if action is CaregiverAction.ACCEPT:
        diverted = _divert_visit(session, caregiver_id, at)
        if diverted is not None:
            detail["diverted_visit_id"] = str(diverted.id)
    if action is CaregiverAction.COMPLETE and "code" in detail:
        # The caregiver closes the alert: with the code and note, as an operator would.
        alert.closure_code, alert.closure_note = detail["code"], detail.get("note")
    move_order(
        session,
        order,
        alert,
        ORDER_STATE_FOR_ACTION[action],
        actor=Actor.caregiver(caregiver_id),
        at=at,
        detail=detail or None,
    )
    if ref is not None:
        replies.keep(session, caregiver_id, ref, order_reply(ref, order), at)
    return order


def _divert_visit(session: Session, caregiver_id: UUID, at: datetime) -> Visit | None:
    """A caregiver taking an emergency: the visit they leave, and the rest of their
    next day's route, need re-planning. Returns the visit left, if any."""
    left = None
    for visit in session.exec(
        select(Visit).where(
            or_(col(Visit.caregiver_id) == caregiver_id, col(Visit.partner_id) == caregiver_id),
            col(Visit.state).in_((VisitState.IN_PROGRESS, VisitState.PLANNED)),
        )
    ):
        if visit.state is VisitState.PLANNED and (
            visit.planned_start is None or visit.planned_start > at + timedelta(days=1)
        ):
            continue
        if visit.state is VisitState.IN_PROGRESS:
            left = visit
        visit.needs_replan = True
        session.add(visit)
    return left


BACKUP_ALERT = "backup"


def request_help(
    db: Database,
    catalog: Catalog,
    caregiver_id: UUID,
    order_id: UUID,
    *,
    at: datetime,
    ref: str | None = None,
) -> Alert:
    """A caregiver at the door asks for a second pair of hands: a backup alert.

    Raises NotFound for an order that is not this caregiver's. With a ``ref``, the
    answer is kept with the alert (a second call with it fails to commit).
    """
    kind = catalog.alert_types[BACKUP_ALERT]
    with db.session() as session:
        order = session.get(Order, order_id)
        if order is None or order.caregiver_id != caregiver_id:
            raise NotFound("order", str(order_id))
        origin = session.get(Alert, order.alert_id)
        assert origin is not None  # foreign key
        elder = session.get(Elder, origin.elder_id) if origin.elder_id else None
        backup = raise_alert(
            session,
            kind,
            device_id=origin.device_id,
            elder=elder,
            lat=origin.lat,
            lon=origin.lon,
            at=at,
            device_ts=at,
            actor=Actor.caregiver(caregiver_id),
        )
        if ref is not None:
            replies.keep(session, caregiver_id, ref, help_reply(ref, order_id, backup), at)
        return backup
