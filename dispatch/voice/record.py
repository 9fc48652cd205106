"""Calls on the record: the voice_call row and, for a call about an alert, its timeline.

Each milestone of a call about an alert is also an audit record on the alert
(``call_started``, ``call_answered``, ``call_ended``), so the board's timeline and
live stream show who called whom, when it was answered, and for how long.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import col, or_, select

from dispatch.domain.actor import Actor
from dispatch.store.audit import record_note
from dispatch.store.db import Database
from dispatch.store.tables import Alert, VoiceCall
from dispatch.voice.session import Call, EndReason

SERVER_RESTART = EndReason.SERVER_RESTART.value


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
    db: Database,
    call: Call,
    milestone: str,
    at: datetime,
    *,
    requested_by: str | None = None,
    served_by: str | None = None,
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
                served_by=served_by,
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
                    actor=Actor.operator(call.host.id),
                    at=at,
                    detail=_detail(call, row.requested_by),
                )


def close_stale_calls(db: Database, served_by: str, at: datetime) -> list[uuid.UUID]:
    """End the calls this server left open when it stopped; the ended call ids.

    A call lives in the memory of the process that relays it, so one open on the
    record when that process starts again was cut by the restart: it ends now,
    with reason ``server_restart`` (its end time is when this was noticed, no
    earlier than the real one), on the alert's timeline like any other end. Rows
    written before calls named their server are taken to be this server's.
    """
    ended: list[uuid.UUID] = []
    with db.session() as session:
        query = select(VoiceCall).where(
            col(VoiceCall.ended_at).is_(None),
            or_(col(VoiceCall.served_by) == served_by, col(VoiceCall.served_by).is_(None)),
        )
        for row in session.exec(query).all():
            row.ended_at = max(at, row.started_at)
            row.end_reason = SERVER_RESTART
            session.add(row)
            ended.append(row.id)
            alert = session.get(Alert, row.alert_id) if row.alert_id else None
            if alert is not None:
                record_note(
                    session,
                    alert,
                    action="call_ended",
                    actor=Actor.operator(row.host),
                    at=at,
                    detail=_row_detail(row),
                )
    return ended


def _row_detail(row: VoiceCall) -> dict[str, Any]:
    """The timeline entry of a call cut by a restart (fields as ``_detail``): how
    long they talked is not known, so ``talk_s`` stays empty."""
    ended, answered = row.ended_at, row.answered_at
    return {
        "call_id": str(row.id),
        "host": row.host,
        "parties": list(row.parties),
        "requested_by": row.requested_by,
        "started_at": row.started_at.isoformat(),
        "answered_at": answered.isoformat() if answered else None,
        "ended_at": ended.isoformat() if ended else None,
        "talk_s": None,
        "end_reason": row.end_reason,
    }


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
