"""Device topics and payloads: validation, reasons, fuzzing, documented schemas."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.protocol import (
    MAX_PAYLOAD_BYTES,
    MAX_RECEIVED_IDS,
    CommandPayload,
    DeviceEventPayload,
    ReceivedPayload,
    StatusPayload,
    event_payload,
    parse_event,
    parse_received,
    parse_status,
    parse_topic,
    received_payload,
)
from dispatch.errors import PayloadError

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_a_press_parses() -> None:
    ts = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    event = parse_event("pb-1", event_payload("e-1", "press", ts, battery=80))
    assert (event.device_id, event.event_id, event.type, event.ts, event.battery) == (
        "pb-1",
        "e-1",
        "press",
        ts,
        80,
    )


def test_topic_routes_events_and_status() -> None:
    assert parse_topic("carebell/v1/devices/pb-00001/events").channel == "events"
    assert parse_topic("carebell/v1/devices/pb-00001/status").device_id == "pb-00001"


@pytest.mark.parametrize(
    ("topic", "fragment"),
    [
        ("carebell/v2/devices/x/events", "not a CareBell v1"),
        ("carebell/v1/devices/x/commands", "unknown channel"),
        ("carebell/v1/devices/../events", "malformed device id"),
        ("carebell/v1/devices/x/events/extra", "not a CareBell v1"),
    ],
)
def test_bad_topics_are_refused(topic: str, fragment: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_topic(topic)
    assert info.value.reason == "bad_topic"
    assert fragment in info.value.detail


@pytest.mark.parametrize(
    ("payload", "reason", "fragment"),
    [
        (b"{not json", "not_json", ""),
        (b"\xff\xfe", "not_json", ""),
        (b"[]", "invalid", "payload"),
        (b'{"event_id":"1","type":"press"}', "invalid", "ts: Field required"),
        (b'{"event_id":"1","type":"press","ts":"2026-11-24T08:00:00"}', "invalid", "timezone"),
        (
            b'{"event_id":"1","type":"press","ts":"2026-11-24T08:00:00Z","x":1}',
            "invalid",
            "x: Extra inputs",
        ),
        (b'{"event_id":"","type":"press","ts":"2026-11-24T08:00:00Z"}', "invalid", "event_id"),
        (
            b'{"event_id":"1","type":"press","ts":"2026-11-24T08:00:00Z","battery":300}',
            "invalid",
            "battery",
        ),
        (b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", "too_large", "limit"),
    ],
)
def test_bad_payloads_get_a_reason(payload: bytes, reason: str, fragment: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_event("pb-1", payload)
    assert info.value.reason == reason
    assert fragment in info.value.detail


def test_status_payload() -> None:
    assert parse_status("pb-1", b'{"status":"offline"}').online is False
    with pytest.raises(PayloadError):
        parse_status("pb-1", b'{"status":"sleeping"}')


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_either_parse_or_raise_payload_error(payload: bytes) -> None:
    with contextlib.suppress(PayloadError):
        parse_event("pb-1", payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["event_id", "type", "ts", "battery", "position", "z"]),
        json_values,
        max_size=6,
    )
)
def test_any_json_object_either_parses_or_raises_payload_error(body: dict[str, object]) -> None:
    try:
        event = parse_event("pb-1", json.dumps(body).encode())
    except PayloadError:
        return
    assert event.event_id == body["event_id"]


@given(
    st.text(min_size=1, max_size=128),
    st.sampled_from(["press", "sos", "fall"]),
    st.datetimes(timezones=st.just(UTC)),
)
def test_encoded_events_round_trip(event_id: str, type_: str, ts: datetime) -> None:
    event = parse_event("pb-1", event_payload(event_id, type_, ts))
    assert (event.event_id, event.type, event.ts) == (event_id, type_, ts)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (DeviceEventPayload, "device-event.schema.json"),
        (StatusPayload, "device-status.schema.json"),
        (CommandPayload, "device-command.schema.json"),
        (ReceivedPayload, "device-received.schema.json"),
    ],
)
def test_documented_json_schema_is_the_one_enforced(model: type, name: str) -> None:
    documented = json.loads((SCHEMAS / name).read_text())
    assert documented == model.model_json_schema(), "regenerate with: python -m devices.schemas"


@given(st.lists(st.text(min_size=1, max_size=128), min_size=1, max_size=MAX_RECEIVED_IDS))
def test_receipts_round_trip(event_ids: list[str]) -> None:
    ts = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert parse_received(received_payload(event_ids, ts)) == event_ids


def test_an_empty_or_oversized_receipt_is_refused() -> None:
    ts = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    for ids in ([], ["x"] * (MAX_RECEIVED_IDS + 1)):
        with pytest.raises(PayloadError) as refused:
            parse_received(received_payload(ids, ts))
        assert refused.value.reason == "invalid"
