"""What a device message means: the pure decision (dispatch.domain.device_effects)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from config.settings import Settings
from devices.protocol import DeviceEvent, DeviceStatus
from dispatch.domain.device_effects import (
    GEO_MAX_LAT,
    DeviceView,
    Effect,
    Message,
    Outcome,
    Refused,
    Rules,
    decide,
    raised_order,
)
from dispatch.domain.lifecycle import AlertState
from dispatch.runtime.catalog_file import load_catalog

CATALOG = load_catalog(Settings().alert_types_file)
RULES = Rules(merge_window_s=300, max_clock_skew_s=3600)
NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
HOME = (30.27, 120.15)
BUTTON = DeviceView(id="pb-1", kind="panic_button", online=True, elder_id=uuid.uuid4(), home=HOME)


def run(
    messages: Sequence[tuple[Message, datetime]], device: DeviceView = BUTTON
) -> tuple[list[Effect], DeviceView]:
    """Decide a stream, carrying the device's view from one message to the next."""
    stored: set[tuple[str, str]] = set()
    effects = []
    for message, at in messages:
        effect = decide(message, device, stored, CATALOG, RULES, at)
        if effect.outcome is not Outcome.REJECTED:
            device = device.after(effect)
        if effect.event is not None:
            stored.add((effect.event.device_id, effect.event.event_id))
        effects.append(effect)
    return effects, device


def press(
    event_id: str, ts: datetime = NOW, position: tuple[float, float] | None = None
) -> DeviceEvent:
    return DeviceEvent("pb-1", event_id, "press", ts, position=position)


def test_a_press_raises_and_a_second_merges_and_a_repeat_is_a_duplicate() -> None:
    later = NOW + timedelta(seconds=30)
    effects, device = run([(press("a"), NOW), (press("b"), later), (press("b"), later)])
    assert [e.outcome for e in effects] == [Outcome.RAISED, Outcome.MERGED, Outcome.DUPLICATE]
    [alert] = device.open_alerts
    assert (alert.press_count, alert.raised_at, alert.lat) == (2, NOW, HOME[0])
    assert effects[1].alert_id == alert.id == effects[0].alert_id


def test_the_same_message_always_means_the_same_alert() -> None:
    first, _ = run([(press("a"), NOW)])
    again, _ = run([(press("a"), NOW)])
    assert first == again  # deterministic, ids included


def test_a_cancel_withdraws_a_fresh_press_and_only_notes_a_late_one() -> None:
    cancel = DeviceEvent("pb-1", "c", "cancel", NOW)
    soon, _ = run([(press("a"), NOW), (cancel, NOW + timedelta(seconds=60))])
    assert soon[1].outcome is Outcome.CLOSED
    assert soon[1].closes[0].target is AlertState.CANCELLED
    late, device = run([(press("a"), NOW), (cancel, NOW + timedelta(seconds=200))])
    assert late[1].outcome is Outcome.UPDATED
    assert late[1].note is not None
    assert late[1].note.action == "cancel_late"
    assert len(device.open_alerts) == 1


def test_a_cancel_withdraws_the_same_one_of_two_alerts_raised_together_in_any_order() -> None:
    """A press and a long press received together: the view a batch carries lists
    them as raised, a reload by id; the cancel must mean one alert either way."""
    long_press = DeviceEvent("pb-1", "b", "longPress", NOW)
    effects, device = run([(press("a"), NOW), (long_press, NOW)])
    assert [e.outcome for e in effects] == [Outcome.RAISED, Outcome.RAISED]
    assert list(device.open_alerts) == sorted(device.open_alerts, key=raised_order)
    cancel = DeviceEvent("pb-1", "c", "cancel", NOW + timedelta(seconds=1))
    withdrawn = set()
    for order in (device.open_alerts, device.open_alerts[::-1]):
        view = replace(device, open_alerts=order)
        effect = decide(cancel, view, set(), CATALOG, RULES, NOW + timedelta(seconds=1))
        assert effect.outcome is Outcome.CLOSED
        withdrawn |= {c.alert_id for c in effect.closes}
    # The least severe of the two: the SOS stays with the operators.
    [help_button] = [a.id for a in device.open_alerts if a.alert_type == "help_button"]
    assert withdrawn == {help_button}


def test_a_device_heard_again_closes_its_offline_alert() -> None:
    effects, _ = run([(press("a"), NOW)])
    offline = effects[0].raised
    assert offline is not None
    gone = DeviceView(
        id="pb-1",
        kind="panic_button",
        online=False,
        home=HOME,
        open_alerts=(offline.__class__(**{**offline.row(), "alert_type": "device_offline"}),),
    )
    back, device = run([(DeviceStatus("pb-1", True), NOW)], gone)
    assert back[0].outcome is Outcome.CLOSED
    assert device.online is True
    assert device.open_alerts == ()


@given(
    ts=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-23, minutes=-59)), timezone(timedelta(hours=14))]
        ),
    )
)
def test_a_press_is_never_refused_for_its_clock(ts: datetime) -> None:
    [effect], _ = run([(press("a", ts), NOW)])
    assert effect.outcome is Outcome.RAISED
    assert effect.raised is not None
    assert effect.raised.raised_at == NOW
    skewed = abs((ts - NOW).total_seconds()) > RULES.max_clock_skew_s
    assert ("clock_skew" in effect.flags) == skewed
    assert effect.device_ts == (NOW if skewed else ts)


def test_a_press_at_the_end_of_time_raises_on_receipt_time() -> None:
    end = datetime.fromisoformat("9999-12-31T23:59:59-23:59")
    [effect], _ = run([(press("a", end), NOW)])
    assert effect.outcome is Outcome.RAISED
    assert effect.device_ts == NOW
    assert "clock_skew" in effect.flags


@given(lat=st.floats(min_value=-90, max_value=90))
def test_no_alert_is_placed_where_the_map_cannot_hold_it(lat: float) -> None:
    here = (lat, 120.0)
    [with_home], _ = run([(press("a", position=here), NOW)])
    homeless_button = DeviceView(id="pb-1", kind="panic_button")
    [homeless], _ = run([(press("a", position=here), NOW)], homeless_button)
    inside = abs(lat) <= GEO_MAX_LAT
    assert with_home.raised is not None
    assert with_home.raised.lat == (lat if inside else HOME[0])
    assert ("position_out_of_range" in with_home.flags) == (not inside)
    if inside:
        assert homeless.outcome is Outcome.RAISED
    else:
        assert homeless.reject is not None
        assert homeless.reject.reason == "position_out_of_range"


def test_a_flood_of_presses_coalesces_into_a_few_audited_merges() -> None:
    burst = [(press(f"p{i}"), NOW + timedelta(milliseconds=i)) for i in range(2000)]
    effects, device = run(burst)
    assert [e.outcome for e in effects].count(Outcome.MERGED) == 1999
    [alert] = device.open_alerts
    assert alert.press_count == 2000
    audited = [e.merge.press_count for e in effects if e.merge and e.merge.audited]
    assert audited == [2, 3, 4, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]
    # A press after a lull is always shown.
    [after], _ = run([(press("q"), NOW + timedelta(seconds=60))], device)
    assert after.merge is not None
    assert after.merge.audited


def test_unknown_and_deactivated_devices_and_parser_refusals_are_rejected() -> None:
    assert decide(press("a"), None, set(), CATALOG, RULES, NOW).reject == Refused(
        "unknown_device", "device pb-1 is not registered", "pb-1"
    )
    off = DeviceView(id="pb-1", kind="panic_button", active=False)
    assert decide(press("a"), off, set(), CATALOG, RULES, NOW).outcome is Outcome.REJECTED
    refused = Refused("not_json", "Expecting value", "pb-1")
    assert decide(refused, BUTTON, set(), CATALOG, RULES, NOW).reject == refused
    jump = DeviceEvent("pb-1", "j", "jump", NOW)
    assert decide(jump, BUTTON, set(), CATALOG, RULES, NOW).reject == Refused(
        "unknown_event", "a panic_button sends no 'jump' event", "pb-1"
    )
