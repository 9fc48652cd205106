"""The notifications sent to an alert's contacts (docs/contacts.md)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlmodel import col, select

from dispatch.api.deps import BoardDep, SessionDep
from dispatch.api.routes.alerts import visible_alert
from dispatch.store.tables import Notification

router = APIRouter(prefix="/api/v1", tags=["notifications"])


@router.get("/alerts/{alert_id}/notifications")
def alert_notifications(
    session: SessionDep, principal: BoardDep, request: Request, alert_id: uuid.UUID
) -> list[dict[str, Any]]:
    """Every notification of the alert, oldest first, with its status and last error."""
    visible_alert(session, request, principal, alert_id)
    found = session.exec(
        select(Notification)
        .where(Notification.alert_id == alert_id)
        .order_by(col(Notification.created_at), col(Notification.audit_id))
    ).all()
    return [n.model_dump(mode="json") for n in found]
