"""The device voice topics: what a device may send, what it is sent, and the documented schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devices.protocol import (
    VoiceDownPayload,
    VoiceUpPayload,
    parse_voice_down,
    parse_voice_up,
    voice_device_of,
    voice_down_topic,
    voice_up_topic,
)
from dispatch.errors import PayloadError

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"


def up(**fields: object) -> bytes:
    return json.dumps({"call_id": "c1", "ts": "2026-12-01T08:00:00+08:00", **fields}).encode()


def test_a_devices_answer_carries_its_sdp() -> None:
    signal = parse_voice_up("pb-1", up(type="answer", sdp=SDP))
    assert (signal.device_id, signal.type, signal.call_id, signal.sdp) == (
        "pb-1",
        "answer",
        "c1",
        SDP,
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (up(type="answer"), "invalid"),  # an answer without its sdp
        (up(type="hangup", sdp=SDP), "invalid"),  # sdp only with an answer
        (up(type="ring"), "invalid"),
        (b"not json", "not_json"),
        (up(type="answer", sdp="x" * 40_000), "too_large"),
    ],
)
def test_a_malformed_voice_message_is_refused_with_its_reason(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as refused:
        parse_voice_up("pb-1", body)
    assert refused.value.reason == reason


def test_voice_topics_name_their_device_and_direction() -> None:
    assert voice_up_topic("pb-7") == "carebell/v1/devices/pb-7/voice/up"
    assert voice_down_topic("pb-7") == "carebell/v1/devices/pb-7/voice/down"
    assert voice_device_of(voice_up_topic("pb-7")) == "pb-7"
    for wrong in (voice_down_topic("pb-7"), "carebell/v1/devices/pb-7/events", "x/voice/up"):
        with pytest.raises(PayloadError):
            voice_device_of(wrong)


def test_an_offer_needs_its_sdp_and_hold_says_which_way() -> None:
    body = {"type": "offer", "call_id": "c1", "ts": "2026-12-01T00:00:00Z", "sdp": SDP}
    assert parse_voice_down(json.dumps(body).encode()).sdp == SDP
    with pytest.raises(PayloadError):
        parse_voice_down(json.dumps({**body, "sdp": None}).encode())
    hold = {"type": "hold", "call_id": "c1", "ts": "2026-12-01T00:00:00Z", "on": True}
    assert parse_voice_down(json.dumps(hold).encode()).on is True


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (VoiceDownPayload, "device-voice-down.schema.json"),
        (VoiceUpPayload, "device-voice-up.schema.json"),
    ],
)
def test_documented_voice_schema_is_the_one_enforced(model: type, name: str) -> None:
    documented = json.loads((SCHEMAS / name).read_text())
    assert documented == model.model_json_schema(), "regenerate with: python -m devices.schemas"
