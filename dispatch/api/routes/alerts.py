"""Alerts, their orders and audit trail, and refused device messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy import and_, case
from sqlmodel import Session, col, select

from dispatch.api.deps import BoardDep, SessionDep, WorkDep, forbid
from dispatch.api.schemas import AuditPublic
from dispatch.domain.access import Principal
from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.domain.live_events import alert_place
from dispatch.domain.model import Severity
from dispatch.domain.urgency import JUMPS_THE_QUEUE
from dispatch.store.reads import in_areas, orders_in_scope
from dispatch.store.tables import Alert, AuditRecord, DeadLetter, Order

router = APIRouter(prefix="/api/v1")
Limit = Query(100, ge=1, le=1000)
Offset = Query(0, ge=0, le=2**31)


class AlertOrder(StrEnum):
    NEWEST = "newest"
    URGENCY = "urgency"


# dispatch/domain/urgency.urgency_key in SQL: escalated alerts nobody has taken
# first, then by severity, then the longest waiting.
_URGENCY = (
    case(
        (
            and_(col(Alert.state) == JUMPS_THE_QUEUE.value, col(Alert.acknowledged_at).is_(None)),
            0,
        ),
        else_=1,
    ),
    case({s.value: -s.weight for s in Severity}, value=col(Alert.severity), else_=0),
    col(Alert.raised_at),
)


def visible_alert(
    session: Session, request: Request, principal: Principal, alert_id: uuid.UUID
) -> Alert:
    """The alert, if it exists and lies in the principal's areas (else 404 / 403)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} not found")
    if not principal.may_see_place(alert_place(alert)):
        raise forbid(request, principal, f"alert {alert_id} is outside your areas")
    return alert


@router.get("/alerts", response_model=list[Alert])
def list_alerts(
    session: SessionDep,
    principal: BoardDep,
    device_id: str | None = None,
    elder_id: uuid.UUID | None = None,
    status_: list[AlertState] | None = Query(None, alias="status"),
    since: datetime | None = None,
    sort: AlertOrder = AlertOrder.NEWEST,
    limit: int = Limit,
    offset: int = Offset,
) -> list[Alert]:
    """``status`` may repeat: ``?status=raised&status=offered``.

    ``sort=urgency`` puts escalated alerts no operator has taken first, then the
    most severe, then those waiting longest (the board's queue).
    """
    order = _URGENCY if sort is AlertOrder.URGENCY else (col(Alert.raised_at).desc(),)
    query = in_areas(select(Alert).order_by(*order, col(Alert.id)), principal)
    if device_id is not None:
        query = query.where(Alert.device_id == device_id)
    if elder_id is not None:
        query = query.where(Alert.elder_id == elder_id)
    if status_:
        query = query.where(col(Alert.state).in_(status_))
    if since is not None:
        query = query.where(Alert.raised_at >= since)
    return list(session.exec(query.offset(offset).limit(limit)).all())


@router.get("/alerts/{alert_id}", response_model=Alert)
def get_alert(
    session: SessionDep, principal: BoardDep, request: Request, alert_id: uuid.UUID
) -> Alert:
    return visible_alert(session, request, principal, alert_id)


@router.get("/alerts/{alert_id}/audit", response_model=list[AuditPublic])
def alert_audit(
    session: SessionDep, principal: BoardDep, request: Request, alert_id: uuid.UUID
) -> list[AuditRecord]:
    """Every transition of the alert and its orders, oldest first."""
    visible_alert(session, request, principal, alert_id)
    query = select(AuditRecord).where(AuditRecord.alert_id == alert_id)
    return list(session.exec(query.order_by(col(AuditRecord.id))).all())


@router.get("/orders", response_model=list[Order])
def list_orders(
    session: SessionDep,
    principal: WorkDep,
    alert_id: uuid.UUID | None = None,
    caregiver_id: uuid.UUID | None = None,
    device_id: str | None = None,
    status_: list[OrderState] | None = Query(None, alias="status"),
    limit: int = Limit,
    offset: int = Offset,
) -> list[Order]:
    query = select(Order).join(Alert).order_by(col(Order.offered_at).desc(), col(Order.id))
    query = orders_in_scope(query, principal)
    if alert_id is not None:
        query = query.where(Order.alert_id == alert_id)
    if caregiver_id is not None:
        query = query.where(Order.caregiver_id == caregiver_id)
    if device_id is not None:
        query = query.where(Alert.device_id == device_id)
    if status_:
        query = query.where(col(Order.state).in_(status_))
    return list(session.exec(query.offset(offset).limit(limit)).all())


@router.get("/orders/{order_id}", response_model=Order)
def get_order(
    session: SessionDep, principal: WorkDep, request: Request, order_id: uuid.UUID
) -> Order:
    query = orders_in_scope(select(Order).join(Alert), principal)
    order: Order | None = session.exec(query.where(Order.id == order_id)).first()
    if order is None:  # or not theirs: its existence is not told either
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"order {order_id} not found")
    return order


@router.get("/dead-letters", response_model=list[DeadLetter])
def list_dead_letters(
    session: SessionDep,
    principal: BoardDep,
    request: Request,
    reason: str | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> list[DeadLetter]:
    """Device messages that were refused, newest first, with the reason. Their raw
    payloads name any device of the city: for supervisors, administrators and
    city-wide operators only."""
    if not principal.sees_every_area:
        raise forbid(request, principal, "dead letters are for city-wide roles")
    query = select(DeadLetter).order_by(col(DeadLetter.id).desc())
    if reason is not None:
        query = query.where(DeadLetter.reason == reason)
    return list(session.exec(query.offset(offset).limit(limit)).all())
