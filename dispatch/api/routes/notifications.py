"""The notifications sent to an alert's contacts, and the responder cascade's
operator actions (docs/contacts.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict
from sqlmodel import col, select

from dispatch.api.deps import BoardDep, CascadeRuleDep, DatabaseDep, PublishDep, SessionDep
from dispatch.api.routes.alerts import visible_alert
from dispatch.domain.access import Principal
from dispatch.notify import cascade
from dispatch.store.db import Database
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


class CascadeAnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: uuid.UUID
    answer: cascade.ContactAnswer


def _check_visible(
    db: Database, request: Request, principal: Principal, alert_id: uuid.UUID
) -> None:
    with db.read() as session:
        visible_alert(session, request, principal, alert_id)


@router.post(
    "/alerts/{alert_id}/cascade",
    status_code=status.HTTP_201_CREATED,
    responses={503: {"description": "no responder cascade here (no SMS provider, or no rule)"}},
)
async def start_cascade(
    db: DatabaseDep,
    principal: BoardDep,
    request: Request,
    rule: CascadeRuleDep,
    publish: PublishDep,
    alert_id: uuid.UUID,
) -> dict[str, Any]:
    """Ask the elder's contacts who can help, at the operator's choice (409 when they
    are asked already, or the alert is closed; 503 when no cascade is configured)."""
    if rule is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no responder cascade here: no SMS provider, or no cascade in the rules",
        )
    await db.run(_check_visible, db, request, principal, alert_id)
    order = await db.run(
        cascade.start_by_operator,
        db,
        alert_id,
        rule,
        operator=principal.username,
        now=datetime.now(UTC),
    )
    await publish()
    return {"alert_id": str(alert_id), "order": order}


@router.post("/alerts/{alert_id}/cascade/answer")
async def cascade_answer(
    db: DatabaseDep,
    principal: BoardDep,
    request: Request,
    publish: PublishDep,
    alert_id: uuid.UUID,
    body: CascadeAnswerIn,
) -> dict[str, Any]:
    """What an asked contact said when they called back: yes ends the cascade, no
    asks the next at once (404 for a contact not asked about this alert)."""
    await db.run(_check_visible, db, request, principal, alert_id)
    notice = await db.run(
        cascade.record_answer,
        db,
        alert_id,
        body.contact_id,
        body.answer,
        operator=principal.username,
        now=datetime.now(UTC),
    )
    await publish()
    return notice.model_dump(mode="json")
