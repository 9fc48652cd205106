"""The operators' shift hand-over: what is on the desk now, handing it over with
notes, the hand-overs waiting for the incoming operator, acknowledging one."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import BoardDep, DatabaseDep, SessionDep
from dispatch.emergency import shift_handover
from dispatch.store.tables import ShiftHandover

router = APIRouter(prefix="/api/v1/shift-handovers", tags=["shift hand-over"])


class HandOverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: str = Field(default="", max_length=4000)


@router.get("/now")
def on_the_desk(session: SessionDep, principal: BoardDep) -> dict[str, Any]:
    """The open alerts in the caller's areas and the callbacks due (the last call back
    to the elder found nobody): what a hand-over made now would hold."""
    return asdict(shift_handover.situation(session, principal))


@router.post("", status_code=201, response_model=ShiftHandover)
async def hand_over(db: DatabaseDep, principal: BoardDep, body: HandOverIn) -> ShiftHandover:
    """Hand over the desk as it stands, with notes for the incoming operator."""
    record: ShiftHandover = await db.run(
        shift_handover.hand_over, db, principal, body.notes, at=datetime.now(UTC)
    )
    return record


@router.get("", response_model=list[ShiftHandover])
def handovers(session: SessionDep, principal: BoardDep, pending: bool = False) -> Any:
    """Hand-overs of the caller's areas, newest first; ``pending``: not yet acknowledged."""
    return shift_handover.listed(session, principal, pending=pending)


@router.post("/{handover_id}/acknowledge", response_model=ShiftHandover)
async def acknowledge(db: DatabaseDep, principal: BoardDep, handover_id: uuid.UUID) -> Any:
    """The incoming operator takes the hand-over (not its author; once)."""
    return await db.run(
        shift_handover.acknowledge, db, handover_id, principal, at=datetime.now(UTC)
    )
