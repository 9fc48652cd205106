"""The live messages' typed payloads (pure): what is built is what the types say,
and on the wire it is the JSON docs/protocol.md shows."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dispatch.domain.device_effects import OpenAlert
from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.domain.live_events import (
    AlertEvent,
    AlertView,
    CaregiverPositionEvent,
    ElderView,
    OrderView,
    RouteChangedEvent,
    caregiver_position_event,
    place_in_view,
    route_changed_event,
    transition_event,
)

AT = datetime(2026, 11, 24, 2, 30, 5, tzinfo=UTC)
ORDER_ID, CAREGIVER_ID = uuid.UUID(int=3), uuid.UUID(int=4)
ALERT = OpenAlert(
    id=uuid.UUID(int=1),
    device_id="pb-00042",
    elder_id=uuid.UUID(int=2),
    alert_type="help_button",
    severity="high",
    raised_at=AT,
    deadline_at=AT + timedelta(minutes=15),
    device_ts=AT,
    updated_at=AT,
    lat=30.2811,
    lon=120.1623,
    district="东城区",
    street="和平街道",
    community="和平里社区",
    state=AlertState.DISPATCHING,
)


@dataclass
class _Record:
    entity: str
    to_state: str
    from_state: str | None = None
    action: str | None = None
    actor: str = "system:dispatcher"
    at: datetime = AT
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Order:
    state: OrderState
    id: uuid.UUID = ORDER_ID
    alert_id: uuid.UUID = ALERT.id
    caregiver_id: uuid.UUID = CAREGIVER_ID
    offered_at: datetime = AT
    expires_at: datetime = AT + timedelta(seconds=60)
    eta_s: float = 231.44
    distance_m: float = 819.6


@dataclass
class _Elder:
    id: uuid.UUID = ALERT.elder_id or uuid.UUID(int=0)
    name: str = "王秀英"
    address: str = "和平里社区3幢2单元301室"
    phone: str = "13800000000"
    lat: float = 30.2811
    lon: float = 120.1623
    notes: str = ""
    emergency_contact: str = "女儿 13900000000"
    access_notes: str = "门禁 1234"


def _keys(typed: Any) -> set[str]:
    return set(typed.__required_keys__ | typed.__optional_keys__)


def test_an_alert_step_carries_no_order_and_reads_as_the_protocol_shows() -> None:
    record = _Record("alert", "resolved", from_state="on_scene", actor="operator:li")
    message = transition_event(record, ALERT, None, None)
    assert set(message) == AlertEvent.__required_keys__
    assert set(message["alert"]) == _keys(AlertView)
    wire = json.loads(json.dumps(message, ensure_ascii=False))
    assert wire["type"] == "alert.resolved"
    assert (wire["from"], wire["actor"], wire["at"]) == ("on_scene", "operator:li", AT.isoformat())
    assert wire["alert"]["state"] == "dispatching"
    assert wire["alert"]["deadline_at"] == "2026-11-24T02:45:05+00:00"
    assert place_in_view(wire["alert"]).community == "和平里社区"


def test_an_order_step_adds_the_order_and_the_elder_whose_door_opens_only_on_the_way() -> None:
    offered = transition_event(
        _Record("order", "offered"), ALERT, _Order(OrderState.OFFERED), _Elder()
    )
    assert set(offered) == _keys(AlertEvent)
    assert set(offered["order"]) == _keys(OrderView)
    assert offered["elder"] is not None
    assert set(offered["elder"]) == _keys(ElderView)
    assert offered["elder"]["access_notes"] == ""
    assert (offered["order"]["eta_s"], offered["order"]["distance_m"]) == (231.4, 820)
    on_the_way = transition_event(
        _Record("order", "en_route"), ALERT, _Order(OrderState.EN_ROUTE), _Elder()
    )
    assert on_the_way["elder"] is not None
    assert on_the_way["elder"]["access_notes"] == "门禁 1234"
    assert json.loads(json.dumps(on_the_way))["type"] == "order.en_route"


def test_a_position_and_a_route_change_are_their_own_payloads() -> None:
    position = caregiver_position_event("c-1", 30.1, 120.2, AT)
    assert set(position) == _keys(CaregiverPositionEvent)
    assert json.loads(json.dumps(position))["type"] == "caregiver.position"
    route = route_changed_event(date(2026, 11, 24))
    assert set(route) == _keys(RouteChangedEvent)
    assert json.loads(json.dumps(route)) == {"v": 1, "type": "route.changed", "day": "2026-11-24"}
