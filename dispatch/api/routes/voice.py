"""Voice over REST: the browsers' WebRTC settings, an alert's calls, recordings, reviews.

Call signalling itself runs over the live sockets (docs/voice.md).
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from config.settings import Settings
from dispatch.api.deps import (
    BoardDep,
    CatalogDep,
    DatabaseDep,
    PrincipalDep,
    PublishDep,
    SessionDep,
    SettingsDep,
    allow,
    forbid,
)
from dispatch.api.routes.alerts import visible_alert
from dispatch.domain.access import Principal, Role
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Elder, VoiceCall
from dispatch.voice import phone, record
from dispatch.voice.review import CallSummary, sample_for_review

router = APIRouter(prefix="/api/v1", tags=["voice"])

ReviewerDep = Annotated[Principal, Depends(allow(Role.SUPERVISOR, Role.ADMIN))]
MAX_RECORDING_BYTES = 64 * 1024 * 1024  # about an hour of Opus at 128 kbit/s
RECORDING_TYPES = {"audio/webm": ".webm", "audio/ogg": ".ogg", "audio/wav": ".wav"}
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@router.get("/voice/config")
def voice_config(settings: SettingsDep, principal: PrincipalDep) -> dict[str, Any]:
    """What a browser needs for a call: ICE servers, loopback-only media, recording."""
    return {
        "ice_servers": [s.model_dump(exclude_none=True) for s in settings.voice_ice_servers],
        "loopback_only": settings.voice_loopback_only,
        "record_calls": settings.voice_record_calls,
        "phone": (
            {"ws_url": settings.voice_sip_ws_url, "domain": settings.voice_sip_domain}
            if settings.voice_sip_ws_url
            else None
        ),
    }


class IncomingCall(BaseModel):
    number: str = Field(min_length=1, max_length=64)


@router.post("/phone/incoming")
async def phone_incoming(
    db: DatabaseDep,
    catalog: CatalogDep,
    publish: PublishDep,
    principal: BoardDep,
    body: IncomingCall,
) -> dict[str, Any]:
    """The board's phone rings: whose number is it? A known one raises or joins the
    elder's alert (the card pops); an unknown one changes nothing."""
    caller = await db.run(
        phone.receive_call,
        db,
        catalog,
        body.number,
        principal.username,
        at=datetime.now(UTC),
    )
    if caller is None:
        return {"known": False, "number": phone.normalise_number(body.number)}
    await publish()
    return {
        "known": True,
        "number": phone.normalise_number(body.number),
        "elder_id": str(caller.elder_id),
        "elder_name": caller.elder_name,
        "alert_id": str(caller.alert_id),
        "joined": caller.joined,
        "family": caller.family,
    }


@router.get("/alerts/{alert_id}/calls")
def alert_calls(
    session: SessionDep, principal: BoardDep, request: Request, alert_id: uuid.UUID
) -> list[dict[str, Any]]:
    visible_alert(session, request, principal, alert_id)
    query = select(VoiceCall).where(VoiceCall.alert_id == alert_id)
    calls = session.exec(query.order_by(col(VoiceCall.started_at))).all()
    return [call_view(c, principal) for c in calls]


def call_view(call: VoiceCall, principal: Principal) -> dict[str, Any]:
    view = call.model_dump(mode="json")
    ended, answered = call.ended_at, call.answered_at
    view["talk_s"] = (ended - answered).total_seconds() if ended and answered else None
    view["recording"] = bool(call.recording) and principal.role in (Role.SUPERVISOR, Role.ADMIN)
    return view


@router.post("/calls/{call_id}/recording", status_code=status.HTTP_201_CREATED)
async def upload_recording(
    settings: SettingsDep,
    db: DatabaseDep,
    principal: BoardDep,
    request: Request,
    call_id: uuid.UUID,
) -> dict[str, Any]:
    """The hosting operator's browser sends the call's recording when it ends."""
    if not settings.voice_record_calls:
        raise HTTPException(status.HTTP_409_CONFLICT, "this bureau does not record calls")
    suffix = RECORDING_TYPES.get(request.headers.get("content-type", "").split(";")[0])
    if suffix is None:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send audio/webm, ogg or wav")
    call = await db.run(_call, db, call_id)
    if call is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"call {call_id} not found")
    if call.host != principal.username:
        raise forbid(request, principal, "only the operator who hosted a call records it")
    body = await request.body()
    if not body or len(body) > MAX_RECORDING_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "empty or too large")
    folder = settings.voice_recordings_dir
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{call_id}{suffix}"
    (folder / name).write_bytes(body)
    await db.run(record.attach_recording, db, call_id, name)
    return {"call_id": str(call_id), "bytes": len(body)}


@router.get("/calls/{call_id}/recording")
async def play_recording(
    db: DatabaseDep, settings: SettingsDep, principal: ReviewerDep, call_id: uuid.UUID
) -> FileResponse:
    """Supervisors and administrators play a call back."""
    call = await db.run(_call, db, call_id)
    if call is None or not call.recording:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"call {call_id} has no recording")
    path = settings.voice_recordings_dir / call.recording
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the recording of {call_id} is missing")
    return FileResponse(path)


def _call(db: Database, call_id: uuid.UUID) -> VoiceCall | None:
    with db.session() as session:
        return session.get(VoiceCall, call_id)


def _month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    if not _MONTH.match(month):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "month is YYYY-MM")
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=tz)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _this_month(tz: ZoneInfo) -> str:
    return datetime.now(tz).strftime("%Y-%m")


def _calls_of_month(session: Session, settings: Settings, month: str | None) -> list[VoiceCall]:
    tz = ZoneInfo(settings.timezone)
    start, end = _month_bounds(month or _this_month(tz), tz)
    query = select(VoiceCall).where(VoiceCall.started_at >= start, VoiceCall.started_at < end)
    return list(session.exec(query.order_by(col(VoiceCall.started_at))).all())


def review_view(session: Session, call: VoiceCall, principal: Principal) -> dict[str, Any]:
    """A call as the review page lists it: with the elder and the alert it was about."""
    view = call_view(call, principal)
    alert = session.get(Alert, call.alert_id) if call.alert_id else None
    elder = session.get(Elder, alert.elder_id) if alert and alert.elder_id else None
    view["alert_type"] = alert.alert_type if alert else None
    view["elder_name"] = elder.name if elder else None
    return view


@router.get("/calls/review-sample")
def review_sample(
    session: SessionDep, settings: SettingsDep, principal: ReviewerDep, month: str | None = None
) -> list[dict[str, Any]]:
    """The month's review sample as it stands (nothing drawn)."""
    calls = _calls_of_month(session, settings, month)
    return [review_view(session, c, principal) for c in calls if c.sampled_at is not None]


@router.post("/calls/review-sample")
def draw_review_sample(
    session: SessionDep, settings: SettingsDep, principal: ReviewerDep, month: str | None = None
) -> list[dict[str, Any]]:
    """Top up the month's review sample to two answered calls per operator; the sample."""
    calls = _calls_of_month(session, settings, month)
    summaries = [
        CallSummary(c.id, c.host, c.answered_at is not None, c.sampled_at is not None)
        for c in calls
    ]
    chosen = set(sample_for_review(summaries, random.Random()))
    now = datetime.now(UTC)
    for call in calls:
        if call.id in chosen:
            call.sampled_at = now
            session.add(call)
    session.commit()
    return [review_view(session, c, principal) for c in calls if c.sampled_at is not None]


class ReviewUpdate(BaseModel):
    note: str = Field(min_length=1, max_length=4000)


@router.put("/calls/{call_id}/review")
def review_call(
    session: SessionDep, principal: ReviewerDep, call_id: uuid.UUID, body: ReviewUpdate
) -> dict[str, Any]:
    call = session.get(VoiceCall, call_id)
    if call is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"call {call_id} not found")
    call.reviewed_by, call.review_note = principal.username, body.note
    call.sampled_at = call.sampled_at or datetime.now(UTC)
    session.add(call)
    session.commit()
    return review_view(session, call, principal)
