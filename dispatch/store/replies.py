"""Caregivers' answers kept by the app's ``ref`` (exactly-once actions).

The reply is written in the same transaction as the action it answers, so it
exists exactly when the action does: a retry after a lost answer, a socket that
closed, a failed publish or a restarted Redis, gets the first answer again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlmodel import Session

from dispatch.store.db import Database
from dispatch.store.tables import ActionReply


def keep(
    session: Session, caregiver_id: UUID, ref: str, reply: dict[str, Any], at: datetime
) -> None:
    """Add the reply to the action's transaction (a second action with the same
    ref then fails to commit, on the primary key, changing nothing)."""
    session.add(ActionReply(caregiver_id=caregiver_id, ref=ref, reply=reply, created_at=at))


def recall(db: Database, caregiver_id: UUID, ref: str) -> dict[str, Any] | None:
    """The answer already given to this caregiver's action ``ref``, if any."""
    with db.read() as session:
        row = session.get(ActionReply, (caregiver_id, ref))
        return dict(row.reply) if row is not None else None
