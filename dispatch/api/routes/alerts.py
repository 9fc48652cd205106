"""Alerts, their orders and audit trail, and refused device messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import col, select

from dispatch.api.deps import SessionDep
from dispatch.api.schemas import AuditPublic
from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.store.tables import Alert, AuditRecord, DeadLetter, Order

router = APIRouter(prefix="/api/v1")
Limit = Query(100, ge=1, le=1000)
Offset = Query(0, ge=0)


@router.get("/alerts", response_model=list[Alert])
def list_alerts(
    session: SessionDep,
    device_id: str | None = None,
    elder_id: uuid.UUID | None = None,
    status_: list[AlertState] | None = Query(None, alias="status"),
    since: datetime | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> list[Alert]:
    """Newest first. ``status`` may repeat: ``?status=raised&status=offered``."""
    query = select(Alert).order_by(col(Alert.raised_at).desc(), col(Alert.id))
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
def get_alert(session: SessionDep, alert_id: uuid.UUID) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} not found")
    return alert


@router.get("/alerts/{alert_id}/audit", response_model=list[AuditPublic])
def alert_audit(session: SessionDep, alert_id: uuid.UUID) -> list[AuditRecord]:
    """Every transition of the alert and its orders, oldest first."""
    get_alert(session, alert_id)
    query = select(AuditRecord).where(AuditRecord.alert_id == alert_id)
    return list(session.exec(query.order_by(col(AuditRecord.id))).all())


@router.get("/orders", response_model=list[Order])
def list_orders(
    session: SessionDep,
    alert_id: uuid.UUID | None = None,
    caregiver_id: uuid.UUID | None = None,
    device_id: str | None = None,
    status_: list[OrderState] | None = Query(None, alias="status"),
    limit: int = Limit,
    offset: int = Offset,
) -> list[Order]:
    query = select(Order).order_by(col(Order.offered_at).desc(), col(Order.id))
    if alert_id is not None:
        query = query.where(Order.alert_id == alert_id)
    if caregiver_id is not None:
        query = query.where(Order.caregiver_id == caregiver_id)
    if device_id is not None:
        query = query.join(Alert).where(Alert.device_id == device_id)
    if status_:
        query = query.where(col(Order.state).in_(status_))
    return list(session.exec(query.offset(offset).limit(limit)).all())


@router.get("/orders/{order_id}", response_model=Order)
def get_order(session: SessionDep, order_id: uuid.UUID) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"order {order_id} not found")
    return order


@router.get("/dead-letters", response_model=list[DeadLetter])
def list_dead_letters(
    session: SessionDep, reason: str | None = None, limit: int = Limit, offset: int = Offset
) -> list[DeadLetter]:
    """Device messages that were refused, newest first, with the reason."""
    query = select(DeadLetter).order_by(col(DeadLetter.id).desc())
    if reason is not None:
        query = query.where(DeadLetter.reason == reason)
    return list(session.exec(query.offset(offset).limit(limit)).all())
