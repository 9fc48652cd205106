"""Alerts, their orders and audit trail, and refused device messages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case
from sqlmodel import col, select

from dispatch import operators
from dispatch.api.deps import ServicesDep, SessionDep
from dispatch.api.schemas import AuditPublic
from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.domain.model import Severity
from dispatch.services import Services
from dispatch.store.tables import Alert, AuditRecord, DeadLetter, Order

router = APIRouter(prefix="/api/v1")
Limit = Query(100, ge=1, le=1000)
Offset = Query(0, ge=0)


class AlertOrder(StrEnum):
    NEWEST = "newest"
    URGENCY = "urgency"


# Escalated alerts nobody has taken first, then by severity, then the longest waiting.
_URGENCY = (
    case(
        (
            and_(
                col(Alert.state) == AlertState.ESCALATED.value, col(Alert.acknowledged_at).is_(None)
            ),
            0,
        ),
        else_=1,
    ),
    case({s.value: -s.weight for s in Severity}, value=col(Alert.severity), else_=0),
    col(Alert.raised_at),
)


@router.get("/alerts", response_model=list[Alert])
def list_alerts(
    session: SessionDep,
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
    query = select(Alert).order_by(*order, col(Alert.id))
    if device_id is not None:
        query = query.where(Alert.device_id == device_id)
    if elder_id is not None:
        query = query.where(Alert.elder_id == elder_id)
    if status_:
        query = query.where(col(Alert.state).in_(status_))
    if since is not None:
        query = query.where(Alert.raised_at >= since)
    return list(session.exec(query.offset(offset).limit(limit)).all())


class Acknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator: str = Field(min_length=1, max_length=64)


class BulkAcknowledge(Acknowledge):
    alert_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


@router.post("/alerts/acknowledge", response_model=list[Alert])
async def acknowledge_many(services: ServicesDep, body: BulkAcknowledge) -> list[Alert]:
    """Take ownership of many alerts at once (a flood of alarms from one cause)."""
    taken = await services.db.run(
        operators.acknowledge, services.db, body.alert_ids, body.operator, at=datetime.now(UTC)
    )
    await services.after_change()
    return taken


@router.post("/alerts/{alert_id}/acknowledge", response_model=Alert)
async def acknowledge_one(services: ServicesDep, alert_id: uuid.UUID, body: Acknowledge) -> Alert:
    """Take ownership of an alert; it leaves the top of the escalation queue."""
    await services.db.run(
        operators.acknowledge, services.db, [alert_id], body.operator, at=datetime.now(UTC)
    )
    await services.after_change()
    return await services.db.run(_load, services, alert_id)


def _load(services: Services, alert_id: uuid.UUID) -> Alert:
    with services.db.session() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None  # acknowledge raised NotFound otherwise
        return alert


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
