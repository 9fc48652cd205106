"""Device topics and payloads, version 1 (docs/devices.md): pure parsing.

    carebell/v1/devices/{device_id}/events   device → server, QoS 1, JSON DeviceEventPayload
    carebell/v1/devices/{device_id}/status   device → server, retained, JSON StatusPayload;
                                             also the device's MQTT last will ("offline")
    carebell/v1/devices/{device_id}/commands server → device, QoS 1, JSON CommandPayload
    carebell/v1/devices/{device_id}/received server → device, QoS 1, JSON ReceivedPayload
                                             (the events now stored: the device may forget
                                             them; until then it sends them again)
    carebell/v1/devices/{device_id}/voice/down  server → device, QoS 1, JSON VoiceDownPayload
    carebell/v1/devices/{device_id}/voice/up    device → server, QoS 1, JSON VoiceUpPayload
                                             (call signalling: WebRTC offers, answers, hang-ups)

``parse_*`` either return a validated value or raise PayloadError with a stable
reason code; nothing else escapes them (tests/unit/test_protocol.py checks).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from devices.errors import PayloadError

TOPIC_ROOT = "carebell/v1/devices"
EVENTS_FILTER = f"{TOPIC_ROOT}/+/events"
STATUS_FILTER = f"{TOPIC_ROOT}/+/status"
MAX_PAYLOAD_BYTES = 4096
DEVICE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


COMMANDS_FILTER = f"{TOPIC_ROOT}/+/commands"
RECEIVED_FILTER = f"{TOPIC_ROOT}/+/received"
MAX_RECEIVED_IDS = 500  # one batch of the gateway's at most


VOICE_UP_FILTER = f"{TOPIC_ROOT}/+/voice/up"
VOICE_DOWN_FILTER = f"{TOPIC_ROOT}/+/voice/down"
# An SDP offer with its ICE candidates runs to a few kilobytes.
MAX_VOICE_PAYLOAD_BYTES = 32768


def voice_down_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/voice/down"


def voice_up_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/voice/up"


def commands_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/commands"


def received_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/received"


def events_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/events"


def status_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/status"


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class DeviceEventPayload(BaseModel):
    """One thing a device reports: a press, a fall, a heartbeat..."""

    model_config = ConfigDict(extra="forbid", title="CareBell device event (v1)")

    event_id: str = Field(
        min_length=1, max_length=128, description="Unique per device; repeats are ignored."
    )
    type: str = Field(
        pattern=r"^[a-z][a-zA-Z_]{0,31}$", description="press, sos, fall, heartbeat, ..."
    )
    ts: AwareDatetime = Field(description="Device time, RFC 3339 with offset.")
    battery: int | None = Field(default=None, ge=0, le=100, description="Percent.")
    position: Position | None = Field(default=None, description="Where a wearable is.")
    confidence: float | None = Field(
        default=None, ge=0, le=1, description="fall: how sure the wearable is (0 to 1)."
    )
    heart_rate: int | None = Field(
        default=None, ge=20, le=250, description="heartRate: beats per minute."
    )
    signal: int | None = Field(default=None, ge=-140, le=0, description="Radio signal, dBm.")


class StatusPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", title="CareBell device status (v1)")

    status: Literal["online", "offline"]
    ts: AwareDatetime | None = None
    firmware: str | None = Field(default=None, max_length=64)


class CommandPayload(BaseModel):
    """What the server tells a device that can show or say something."""

    model_config = ConfigDict(extra="forbid", title="CareBell device command (v1)")

    type: Literal["alert_received", "caregiver_on_the_way", "alert_closed"]
    alert_id: str
    ts: AwareDatetime
    eta_s: int | None = Field(default=None, ge=0, description="caregiver_on_the_way only.")
    text_zh: str = Field(description="What a screen shows or a speaker says, in Chinese.")
    text_en: str


class ReceivedPayload(BaseModel):
    """The server has stored these events of the device (committed to its
    database): the device may forget them. An event the device sent and has not
    seen here after a while, or after a reconnect, it sends again with the same
    event_id (a repeat is recognised and stored once)."""

    model_config = ConfigDict(extra="forbid", title="CareBell events received (v1)")

    type: Literal["received"] = "received"
    event_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        min_length=1, max_length=MAX_RECEIVED_IDS
    )
    ts: AwareDatetime = Field(description="When the server stored them.")


def received_payload(event_ids: Sequence[str], ts: datetime) -> bytes:
    """What the server sends a device once its events are stored."""
    body = {"type": "received", "event_ids": list(event_ids), "ts": ts.isoformat()}
    return json.dumps(body, separators=(",", ":")).encode()


def parse_received(payload: bytes) -> list[str]:
    """The event ids a ``received`` message confirms (used by devices and simulators)."""
    try:
        return ReceivedPayload.model_validate(_load_json(payload, 65536)).event_ids
    except ValidationError as exc:
        raise PayloadError("invalid", _explain(exc)) from exc


_SDP = Field(
    default=None,
    min_length=10,
    max_length=MAX_VOICE_PAYLOAD_BYTES,
    description="The WebRTC session description (offer or answer only), SDP text.",
)


class VoiceDownPayload(BaseModel):
    """Call signalling from the centre: the operator's offer, hold, or hang-up.

    A device that talks answers an ``offer`` at once (hands-free, as social alarms
    do) with an ``answer`` on its voice/up topic."""

    model_config = ConfigDict(extra="forbid", title="CareBell voice signalling to a device (v1)")

    type: Literal["offer", "hold", "hangup"]
    call_id: str = Field(min_length=1, max_length=64)
    ts: AwareDatetime
    sdp: str | None = _SDP
    on: bool | None = Field(default=None, description="hold only: true holds, false resumes.")
    alert_id: str | None = Field(default=None, description="offer only: the alert talked about.")

    @model_validator(mode="after")
    def _sdp_with_offer(self) -> VoiceDownPayload:
        if (self.type == "offer") != (self.sdp is not None):
            raise ValueError("sdp comes with an offer and only with an offer")
        return self


class VoiceUpPayload(BaseModel):
    """Call signalling from a device: its answer, that it cannot take the call, or a hang-up."""

    model_config = ConfigDict(extra="forbid", title="CareBell voice signalling from a device (v1)")

    type: Literal["answer", "busy", "unavailable", "hangup"]
    call_id: str = Field(min_length=1, max_length=64)
    ts: AwareDatetime
    sdp: str | None = _SDP

    @model_validator(mode="after")
    def _sdp_with_answer(self) -> VoiceUpPayload:
        if (self.type == "answer") != (self.sdp is not None):
            raise ValueError("sdp comes with an answer and only with an answer")
        return self


@dataclass(frozen=True, slots=True)
class VoiceSignal:
    """One voice message from a device (see VoiceUpPayload)."""

    device_id: str
    type: str
    call_id: str
    sdp: str | None


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    device_id: str
    event_id: str
    type: str
    ts: datetime
    battery: int | None = None
    position: tuple[float, float] | None = None  # (lat, lon)
    confidence: float | None = None
    heart_rate: int | None = None
    signal: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    online: bool
    firmware: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    device_id: str
    channel: Literal["events", "status"]


def parse_topic(topic: str) -> Route:
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != TOPIC_ROOT:
        raise PayloadError("bad_topic", f"not a CareBell v1 device topic: {topic[:200]!r}")
    device_id, channel = parts[3], parts[4]
    if not _DEVICE_ID.fullmatch(device_id):
        raise PayloadError("bad_topic", f"malformed device id {device_id[:80]!r}")
    if channel not in ("events", "status"):
        raise PayloadError("bad_topic", f"unknown channel {channel[:40]!r}")
    return Route(device_id, channel)  # type: ignore[arg-type]  # narrowed just above


def _load_json(payload: bytes, limit: int = MAX_PAYLOAD_BYTES) -> object:
    if len(payload) > limit:
        raise PayloadError("too_large", f"{len(payload)} bytes; the limit is {limit}")
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError("not_json", str(exc)[:200]) from exc


def _explain(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def parse_event(device_id: str, payload: bytes) -> DeviceEvent:
    try:
        body = DeviceEventPayload.model_validate(_load_json(payload))
    except ValidationError as exc:
        raise PayloadError("invalid", _explain(exc)) from exc
    position = (body.position.lat, body.position.lon) if body.position else None
    return DeviceEvent(
        device_id,
        body.event_id,
        body.type,
        body.ts,
        body.battery,
        position,
        body.confidence,
        body.heart_rate,
        body.signal,
    )


def parse_status(device_id: str, payload: bytes) -> DeviceStatus:
    try:
        body = StatusPayload.model_validate(_load_json(payload))
    except ValidationError as exc:
        raise PayloadError("invalid", _explain(exc)) from exc
    return DeviceStatus(device_id, body.status == "online", body.firmware)


def voice_device_of(topic: str) -> str:
    """The device id of a ``…/{device_id}/voice/up`` topic, or PayloadError("bad_topic")."""
    parts = topic.split("/")
    if len(parts) != 6 or "/".join(parts[:3]) != TOPIC_ROOT or parts[4:] != ["voice", "up"]:
        raise PayloadError("bad_topic", f"not a CareBell v1 voice topic: {topic[:200]!r}")
    if not _DEVICE_ID.fullmatch(parts[3]):
        raise PayloadError("bad_topic", f"malformed device id {parts[3][:80]!r}")
    return parts[3]


def parse_voice_up(device_id: str, payload: bytes) -> VoiceSignal:
    try:
        body = VoiceUpPayload.model_validate(_load_json(payload, MAX_VOICE_PAYLOAD_BYTES))
    except ValidationError as exc:
        raise PayloadError("invalid", _explain(exc)) from exc
    return VoiceSignal(device_id, body.type, body.call_id, body.sdp)


def parse_voice_down(payload: bytes) -> VoiceDownPayload:
    """What a device reads from its voice/down topic (used by the simulator)."""
    try:
        return VoiceDownPayload.model_validate(_load_json(payload, MAX_VOICE_PAYLOAD_BYTES))
    except ValidationError as exc:
        raise PayloadError("invalid", _explain(exc)) from exc


def event_payload(event_id: str, type_: str, ts: datetime, **extra: Any) -> bytes:
    """Encode an event the way a device does (used by simulators and tests)."""
    body = {"event_id": event_id, "type": type_, "ts": ts.isoformat(), **extra}
    return json.dumps(body, separators=(",", ":")).encode()
