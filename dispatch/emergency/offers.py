"""Offering an alert to a caregiver, written once for the dispatcher and the operators."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from dispatch.domain.actor import Actor
from dispatch.store.audit import record_offered
from dispatch.store.tables import Alert, Order


def offer(
    session: Session,
    alert: Alert,
    caregiver_id: UUID,
    *,
    eta_s: float,
    distance_m: float,
    at: datetime,
    timeout_s: float,
    actor: Actor,
    detail: dict[str, Any],
) -> Order | None:
    """Write the offer (an order, expiring after ``timeout_s``) and its audit record.

    None when the caregiver already holds an active order (the unique index on
    active orders refuses a second; nothing is written): the caller decides
    whether that is a conflict to report or a reason to match again.
    """
    order = Order(
        alert_id=alert.id,
        caregiver_id=caregiver_id,
        offered_at=at,
        expires_at=at + timedelta(seconds=timeout_s),
        updated_at=at,
        eta_s=eta_s,
        distance_m=distance_m,
    )
    try:
        with session.begin_nested():
            session.add(order)
            session.flush()  # the unique index speaks here if the caregiver got busy
    except IntegrityError:
        return None
    record_offered(session, order, alert, actor=actor, at=at, detail=detail)
    return order
