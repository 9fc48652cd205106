"""Calls on the record: the voice_call row and, for a call about an alert, its timeline.

Each milestone of a call about an alert is also an audit record on the alert
(``call_started``, ``call_answered``, ``call_ended``), so the board's timeline and
live stream show who called whom, when it was answered, and for how long.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from dispatch.store.audit import record_note
from dispatch.store.db import Database
from dispatch.store.tables import Alert, VoiceCall
from dispatch.voice.session import Call


def _detail(call: Call, requested_by: str | None) -> dict[str, Any]:
    return {
        "call_id": str(call.id),
        "host": call.host.id,
        "parties": [str(leg.party) for leg in call.legs],
        "requested_by": requested_by,
        "started_at": call.started_at.isoformat(),
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "talk_s": round(call.talk_s, 1) if call.talk_s is not None else None,
        "end_reason": _end_reason(call),
    }


def _end_reason(call: Call) -> str | None:
    if not call.ended:
        return None
    reasons = [leg.end_reason.value for leg in call.legs if leg.end_reason]
    return reasons[-1] if reasons else None


def save_milestone(
    db: Database, call: Call, milestone: str, at: datetime, *, requested_by: str | None = None
) -> None:
    """Write the call's row as it now stands and, for an alert's call, its timeline entry."""
    with db.session() as session:
        row = session.get(VoiceCall, call.id)
        if row is None:
            row = VoiceCall(
                id=call.id,
                alert_id=call.alert_id,
                host=call.host.id,
                requested_by=requested_by,
                started_at=call.started_at,
            )
        row.parties = [str(leg.party) for leg in call.legs]
        row.answered_at = call.answered_at
        row.ended_at = call.ended_at
        row.end_reason = _end_reason(call)
        session.add(row)
        action = {"started": "call_started", "answered": "call_answered", "ended": "call_ended"}
        if call.alert_id is not None and milestone in action:
            alert = session.get(Alert, call.alert_id)
            if alert is not None:
                record_note(
                    session,
                    alert,
                    action=action[milestone],
                    actor=f"operator:{call.host.id}",
                    at=at,
                    detail=_detail(call, row.requested_by),
                )


def attach_recording(db: Database, call_id: uuid.UUID, file_name: str) -> VoiceCall | None:
    with db.session() as session:
        row = session.get(VoiceCall, call_id)
        if row is None:
            return None
        row.recording = file_name
        session.add(row)
        return row


def calls_of_alert(db: Database, alert_id: uuid.UUID) -> list[VoiceCall]:
    with db.session() as session:
        query = select(VoiceCall).where(VoiceCall.alert_id == alert_id)
        return list(session.exec(query.order_by(col(VoiceCall.started_at))).all())
