"""From device message to stored alert, on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from config.settings import Settings
from devices.protocol import event_payload, events_topic, status_topic
from dispatch.domain.actor import Actor
from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.domain.model import AlertType
from dispatch.emergency.ingest import Inbound, Ingest, Outcome
from dispatch.errors import IllegalTransition
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.audit import move_alert
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, DeadLetter, Device, Order
from dispatch.store.tables import DeviceEvent as DeviceEventRow
from tests.helpers import CENTER, SmallCity, seed_small_city

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


@pytest.fixture
def ingest(db: Database) -> Ingest:
    return Ingest(db, load_catalog(Settings().alert_types_file), merge_window_s=300)


def press(device_id: str, event_id: str, at: datetime = T0, type_: str = "press") -> Inbound:
    return Inbound(events_topic(device_id), event_payload(event_id, type_, at), at)


def alerts(db: Database) -> list[Alert]:
    with db.session() as session:
        return list(session.exec(select(Alert)).all())


def test_press_raises_an_alert_with_its_audit_record(db: Database, ingest: Ingest) -> None:
    city = seed_small_city(db)
    assert ingest.store_batch([press(city.device_id, "e1")]) == [Outcome.RAISED]
    [alert] = alerts(db)
    assert (alert.state, alert.alert_type, alert.severity) == (
        AlertState.RAISED,
        "help_button",
        "high",
    )
    assert alert.raised_at == T0
    assert alert.deadline_at == T0 + timedelta(seconds=900)
    with db.session() as session:
        [record] = session.exec(select(AuditRecord)).all()
    assert (record.from_state, record.to_state, record.actor) == (
        None,
        "raised",
        f"device:{city.device_id}",
    )
    assert record.event["type"] == "alert.raised"
    assert record.published is False  # the outbox has not run


def test_redelivered_event_is_stored_once(db: Database, ingest: Ingest) -> None:
    city = seed_small_city(db)
    first = ingest.store_batch([press(city.device_id, "e1"), press(city.device_id, "e1")])
    again = ingest.store_batch([press(city.device_id, "e1")])
    assert first == [Outcome.RAISED, Outcome.DUPLICATE]
    assert again == [Outcome.DUPLICATE]
    assert len(alerts(db)) == 1


def test_repeated_presses_merge_into_the_open_alert(db: Database, ingest: Ingest) -> None:
    city = seed_small_city(db)
    outcomes = ingest.store_batch(
        [press(city.device_id, f"e{i}", T0 + timedelta(seconds=20 * i)) for i in range(3)]
    )
    assert outcomes == [Outcome.RAISED, Outcome.MERGED, Outcome.MERGED]
    [alert] = alerts(db)
    assert alert.press_count == 3
    # Past the merge window a press is a new alert.
    later = ingest.store_batch([press(city.device_id, "e9", T0 + timedelta(seconds=400))])
    assert later == [Outcome.RAISED]


def test_a_fall_is_not_merged_into_an_sos(db: Database, ingest: Ingest) -> None:
    city = seed_small_city(db)
    outcomes = ingest.store_batch(
        [press(city.wearable_id, "s1", type_="sos"), press(city.wearable_id, "f1", type_="fall")]
    )
    assert outcomes == [Outcome.RAISED, Outcome.RAISED]
    assert sorted(a.alert_type for a in alerts(db)) == ["fall", "sos"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda d: Inbound(events_topic("nobody"), event_payload("1", "press", T0), T0),
            "unknown_device",
        ),
        (lambda d: Inbound(events_topic(d), b"\x00garbage", T0), "not_json"),
        (lambda d: Inbound(events_topic(d), b'{"event_id":"1","type":"press"}', T0), "invalid"),
        (lambda d: Inbound("carebell/v1/devices/x/oops", b"{}", T0), "bad_topic"),
    ],
)
def test_refused_messages_go_to_the_dead_letter_table(
    db: Database,
    ingest: Ingest,
    make,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    city = seed_small_city(db)
    good = press(city.device_id, "ok")
    assert ingest.store_batch([make(city.device_id), good]) == [Outcome.REJECTED, Outcome.RAISED]
    with db.session() as session:
        [letter] = session.exec(select(DeadLetter)).all()
    assert letter.reason == reason
    assert letter.detail


def test_deactivated_device_is_refused(db: Database, ingest: Ingest) -> None:
    city = seed_small_city(db)
    with db.session() as session:
        device = session.get(Device, city.device_id)
        assert device is not None
        device.active = False
        session.add(device)
    assert ingest.store_batch([press(city.device_id, "e1")]) == [Outcome.REJECTED]
    assert alerts(db) == []


def test_status_updates_device_state_without_an_alert(db: Database, ingest: Ingest) -> None:
    city = seed_small_city(db)
    body = b'{"status":"online","firmware":"2.4.1"}'
    message = Inbound(status_topic(city.device_id), body, T0)
    assert ingest.store_batch([message]) == [Outcome.UPDATED]
    with db.session() as session:
        device = session.get(Device, city.device_id)
    assert device is not None
    assert (device.online, device.last_seen_at, device.firmware) == (True, T0, "2.4.1")
    assert alerts(db) == []


def test_illegal_transition_changes_nothing(db: Database, ingest: Ingest) -> None:
    city = seed_small_city(db)
    ingest.store_batch([press(city.device_id, "e1")])
    with db.session() as session:
        [alert] = session.exec(select(Alert)).all()
        with pytest.raises(IllegalTransition):
            move_alert(session, alert, AlertState.RESOLVED, actor=Actor.operator("x"), at=T0)
    [alert] = alerts(db)
    assert alert.state == AlertState.RAISED
    with db.session() as session:
        assert len(session.exec(select(AuditRecord)).all()) == 1


def test_database_allows_one_active_order_per_caregiver(db: Database, ingest: Ingest) -> None:
    city = seed_small_city(db)
    ingest.store_batch([press(city.device_id, "a"), press(city.wearable_id, "b", type_="sos")])
    first, second = alerts(db)

    def offer(alert: Alert) -> Order:
        return Order(
            alert_id=alert.id,
            caregiver_id=city.near_id,
            offered_at=T0,
            expires_at=T0,
            updated_at=T0,
            eta_s=100,
            distance_m=500,
        )

    with db.session() as session:
        session.add(offer(first))
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(offer(second))
    with db.session() as session:
        order = session.exec(select(Order)).one()
        order.state = OrderState.COMPLETED
        session.add(order)
    with db.session() as session:  # a finished order no longer blocks the caregiver
        session.add(offer(second))
    with db.session() as session:
        assert (
            len(session.exec(select(Order).where(col(Order.caregiver_id) == city.near_id)).all())
            == 2
        )


def test_a_second_writer_of_the_same_device_waits_and_counts_the_event_once(
    db: Database, ingest: Ingest
) -> None:
    """Two gateway processes on one shared subscription store the same device's
    messages at once: the second waits for the first's lock on the device, then
    reads what it committed (the event is a duplicate, the press count right)."""
    if db.backend == "sqlite":
        pytest.skip("SQLite has one writer at a time (BEGIN IMMEDIATE): no such race")
    city = seed_small_city(db)
    ingest.store_batch([press(city.device_id, "hb0", type_="heartbeat")])  # online now
    ingest.store_batch([press(city.device_id, "p1")])
    # Another gateway gets the same event (the device sent it again) right after
    # this one's look-up, before its commit.
    other = Ingest(Database(db.url, workers=1), ingest.catalog, merge_window_s=300)
    raced: list[list[Outcome]] = []
    waiting: list[bool] = []
    second = threading.Thread(
        target=lambda: raced.append(other.store_batch([press(city.device_id, "p2")]))
    )

    def race(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not waiting and "FROM device_event" in statement:
            second.start()
            second.join(0.5)
            waiting.append(second.is_alive())  # held by this batch's lock on the device

    again = [press(city.device_id, "p2"), press(city.device_id, "hb1", type_="heartbeat")]
    event.listen(db.engine, "after_cursor_execute", race)
    try:
        outcomes = ingest.store_batch(again)
    finally:
        event.remove(db.engine, "after_cursor_execute", race)
    second.join(10)
    other.db.engine.dispose()
    assert waiting == [True]
    assert outcomes == [Outcome.MERGED, Outcome.UPDATED]
    assert raced == [[Outcome.DUPLICATE]]
    [alert] = alerts(db)
    assert alert.press_count == 2


def status(device_id: str, online: bool, at: datetime, firmware: str | None = None) -> Inbound:
    body = {"status": "online" if online else "offline"}
    if firmware:
        body["firmware"] = firmware
    return Inbound(status_topic(device_id), json.dumps(body).encode(), at)


def heartbeat(device_id: str, event_id: str, at: datetime) -> Inbound:
    return Inbound(events_topic(device_id), event_payload(event_id, "heartbeat", at), at)


def test_a_reconnect_storm_is_stored_in_one_batch_and_closes_offline_alerts(
    db: Database, ingest: Ingest
) -> None:
    city = seed_small_city(db)
    later = T0 + timedelta(minutes=10)
    # The button's will fired and supervision raised "device offline"; the wearable
    # was never heard from.
    assert ingest.store_batch([status(city.device_id, False, T0)]) == [Outcome.UPDATED]
    with db.session() as session:
        button = session.get(Device, city.device_id)
        assert button is not None
        assert ingest.device_offline(session, button, T0, "missed check-ins") == Outcome.RAISED
    batch = [
        status(city.device_id, True, later, firmware="2.1.0"),
        heartbeat(city.device_id, "h1", later),
        heartbeat(city.wearable_id, "h2", later),
        status(city.wearable_id, False, later + timedelta(seconds=1)),
    ]
    queries: list[str] = []
    with _counting(db, queries):
        outcomes = ingest.store_batch(batch)
    assert outcomes == [Outcome.CLOSED, Outcome.UPDATED, Outcome.UPDATED, Outcome.UPDATED]
    assert not any("SAVEPOINT" in q for q in queries), "the batch path, not message by message"
    with db.session() as session:
        button = session.get(Device, city.device_id)
        wearable = session.get(Device, city.wearable_id)
        [offline_alert] = session.exec(select(Alert)).all()
    assert button is not None
    assert wearable is not None
    assert (button.online, button.offline_since, button.offline_alerted) == (True, None, False)
    assert (button.firmware, button.last_seen_at) == ("2.1.0", later)
    assert offline_alert.state is AlertState.RESOLVED
    assert (wearable.online, wearable.offline_since) == (False, later + timedelta(seconds=1))


@contextlib.contextmanager
def _counting(db: Database, statements: list[str]) -> Iterator[None]:
    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)


def test_a_second_will_for_a_device_already_offline_changes_nothing(
    db: Database, ingest: Ingest
) -> None:
    city = seed_small_city(db)
    gone = T0 + timedelta(minutes=1)
    assert ingest.store_batch([status(city.device_id, False, T0)]) == [Outcome.UPDATED]
    # After a broker restart the will can come again, alone in its batch.
    assert ingest.store_batch([status(city.device_id, False, gone)]) == [Outcome.UPDATED]
    with db.session() as session:
        button = session.get(Device, city.device_id)
    assert button is not None
    assert (button.online, button.offline_since) == (False, T0)


class _FaultyTypes(dict[str, AlertType]):
    """A catalogue whose "sos" type cannot be looked up: a fault of ours."""

    def __getitem__(self, code: str) -> AlertType:
        if code == "sos":
            raise KeyError("a fault on the wearable's alert")
        return super().__getitem__(code)


def test_a_message_that_trips_a_fault_of_ours_is_held_and_the_rest_stored(
    db: Database, ingest: Ingest
) -> None:
    """A fault of ours on one message (not the database away) must neither hold up
    the batch nor lose the message: it is held (the gateway leaves it with the
    broker and tries again), never dead-lettered, and stored once the fault is gone."""
    city = seed_small_city(db)
    faulty = Ingest(
        db,
        replace(ingest.catalog, alert_types=_FaultyTypes(ingest.catalog.alert_types)),
        merge_window_s=300,
    )
    sos = press(city.wearable_id, "w1", type_="sos")
    stored = faulty.store([press(city.device_id, "b1"), sos])
    assert stored.outcomes == [Outcome.RAISED, Outcome.HELD]
    assert stored.received == [(city.device_id, "b1")]  # no receipt for what is held
    assert [a.device_id for a in alerts(db)] == [city.device_id]
    with db.session() as session:
        assert session.exec(select(DeadLetter)).all() == []
        assert (
            session.exec(select(DeviceEventRow).where(DeviceEventRow.event_id == "w1")).all() == []
        )
    # The careful path holds it the same way.
    assert faulty.store_each([sos]) == [Outcome.HELD]
    # The fault mended, the same message is stored.
    assert ingest.store_batch([sos]) == [Outcome.RAISED]
    assert {a.device_id for a in alerts(db)} == {city.device_id, city.wearable_id}


def _snapshot(db: Database, city: SmallCity) -> str:
    """What was stored for a city's devices, as JSON with its ids replaced by names
    (so two cities' stories compare equal when they are the same story)."""
    devices = [city.device_id, city.wearable_id]
    with db.session() as session:
        stored_alerts = session.exec(
            select(Alert)
            .where(col(Alert.device_id).in_(devices))
            # Two alerts raised at one instant (a press and a long press) in a fixed order.
            .order_by(col(Alert.raised_at), col(Alert.device_id), col(Alert.alert_type))
        ).all()
        ids = [a.id for a in stored_alerts]
        records = session.exec(
            select(AuditRecord)
            .where(col(AuditRecord.alert_id).in_(ids))
            .order_by(col(AuditRecord.at), col(AuditRecord.id))
        ).all()
        events = session.exec(
            select(DeviceEventRow)
            .where(col(DeviceEventRow.device_id).in_(devices))
            .order_by(
                col(DeviceEventRow.received_at),
                col(DeviceEventRow.device_id),
                col(DeviceEventRow.event_id),
            )
        ).all()
        states = [session.get_one(Device, d) for d in devices]
        story = {
            "alerts": [a.model_dump(exclude={"id"}) for a in stored_alerts],
            "records": [r.model_dump(exclude={"id"}) for r in records],
            "events": [e.model_dump(exclude={"id"}) for e in events],
            "devices": [d.model_dump() for d in states],
        }
    text = json.dumps(story, default=str, sort_keys=True)
    names = {city.device_id: "button", city.wearable_id: "wearable", str(city.elder_id): "elder"}
    names |= {str(alert_id): f"alert-{i}" for i, alert_id in enumerate(ids)}
    for value, name in names.items():
        text = text.replace(value, name)
    return text


def test_the_batch_path_stores_what_the_message_path_stores(
    db: Database, ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    """Raised and merged alerts written in bulk are the rows, audit records and live
    events that the one-message-at-a-time path writes."""
    fast, careful = seed_small_city(db), seed_small_city(db)

    def story(
        city: SmallCity, store: Callable[[list[Inbound]], list[Outcome]]
    ) -> list[list[Outcome]]:
        at = [T0 + timedelta(seconds=s) for s in range(8)]
        batches = [
            [heartbeat(city.device_id, "h0", at[0]), heartbeat(city.wearable_id, "h1", at[0])],
            [
                press(city.device_id, "p1", at[1]),
                press(city.wearable_id, "s1", at[2], type_="sos"),
                press(city.device_id, "p2", at[2]),  # merges in the batch
                # The careful path in the middle: the alerts so far are written first.
                press(city.wearable_id, "c1", at[3], type_="cancel"),
                press(city.device_id, "p3", at[4]),  # merges into the row written
                heartbeat(city.wearable_id, "h2", at[4]),
            ],
            [press(city.device_id, "p4", at[5])],  # merges into the stored alert
        ]
        return [store(batch) for batch in batches]

    outcomes = story(fast, ingest.store_batch)
    assert not caplog.records  # the batches took the batch path, not the fallback
    assert outcomes[1:] == [
        [
            Outcome.RAISED,
            Outcome.RAISED,
            Outcome.MERGED,
            Outcome.CLOSED,
            Outcome.MERGED,
            Outcome.UPDATED,
        ],
        [Outcome.MERGED],
    ]
    assert story(careful, ingest.store_each) == outcomes
    assert _snapshot(db, fast) == _snapshot(db, careful)
    button = [a for a in alerts(db) if a.device_id == fast.device_id]
    assert [a.press_count for a in button] == [4]


# -- any stream, cut into batches any way, is stored as one message at a time --

_KINDS = {
    "button": ["press", "longPress", "cancel", "heartbeat", "lowBattery", "jump"],
    "wearable": ["sos", "fall", "heartRate", "position", "cancel", "removing", "heartbeat"],
}


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bool, list[tuple[str, str, int, dict[str, object]]]]:
    """Steps of (device, type, seconds since the last, extra fields); "status:on" and
    "status:off" are status messages; "garbage" a payload that is not JSON."""
    steps = []
    for _ in range(draw(st.integers(1, 24))):
        device = draw(st.sampled_from(["button", "wearable"]))
        kind = draw(st.sampled_from([*_KINDS[device], "status:on", "status:off", "garbage"]))
        extra: dict[str, object] = {}
        if kind == "fall":
            extra["confidence"] = draw(st.sampled_from([0.3, 0.9]))
        elif kind == "heartRate":
            extra["heart_rate"] = draw(st.sampled_from([70, 190]))
        elif kind == "position" or (kind == "sos" and draw(st.booleans())):
            lat = draw(st.sampled_from([CENTER[0], CENTER[0] + 0.2, 89.0]))
            extra["position"] = {"lat": lat, "lon": CENTER[1]}
        if draw(st.integers(0, 9)) == 0:
            extra["skewed"] = True  # a clock at the end of time
        steps.append((device, kind, draw(st.sampled_from([0, 1, 5, 20, 90, 150, 400])), extra))
    return draw(st.booleans()), steps


def _messages(
    city: SmallCity, steps: list[tuple[str, str, int, dict[str, object]]]
) -> list[Inbound]:
    at, messages = T0, []
    for i, (device, kind, gap, extra) in enumerate(steps):
        at += timedelta(seconds=gap)
        device_id = city.device_id if device == "button" else city.wearable_id
        event_id = f"e{i % 7}"  # a pool small enough for repeats
        if kind.startswith("status:"):
            messages.append(status(device_id, kind == "status:on", at))
        elif kind == "garbage":
            messages.append(Inbound(events_topic(device_id), b"{not json", at))
        else:
            fields = {k: v for k, v in extra.items() if k != "skewed"}
            end_of_time = datetime.fromisoformat("9999-12-31T23:59:59-23:59")
            ts = end_of_time if extra.get("skewed") else at
            messages.append(
                Inbound(events_topic(device_id), event_payload(event_id, kind, ts, **fields), at)
            )
    return messages


# More on demand, before changing the ingest: CAREBELL_PROPERTY_EXAMPLES=2000.
PROPERTY_EXAMPLES = int(os.environ.get("CAREBELL_PROPERTY_EXAMPLES", "25"))


@settings(
    max_examples=PROPERTY_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(story=_streams(), cuts=st.lists(st.integers(1, 24), max_size=24))
# A press and a long press received at one instant, then a cancel: the careful path
# withdrew whichever of the two its database query listed first, the batch path
# the first raised (each chance of a mismatch is one in two; the second example
# stacks four of them).
@example(
    story=(
        False,
        [
            ("button", "press", 0, {}),
            ("button", "longPress", 0, {}),
            ("button", "cancel", 1, {}),
            ("button", "press", 1, {}),
        ],
    ),
    cuts=[],
)
@example(
    story=(
        False,
        [
            ("button", "press", 0, {}),
            ("button", "longPress", 0, {}),
            ("wearable", "sos", 0, {}),
            ("wearable", "fall", 0, {"confidence": 0.9}),
            ("button", "cancel", 1, {}),
            ("wearable", "cancel", 0, {"skewed": True}),
            ("button", "press", 400, {}),
            ("wearable", "sos", 0, {}),
            ("wearable", "fall", 0, {"confidence": 0.9}),
            ("button", "longPress", 0, {}),
            ("button", "cancel", 1, {}),
            ("wearable", "cancel", 0, {"skewed": True}),
        ],
    ),
    cuts=[3, 3],
)
def test_any_cut_of_a_stream_into_batches_stores_what_one_by_one_stores(
    db: Database,
    ingest: Ingest,
    story: tuple[bool, list[tuple[str, str, int, dict[str, object]]]],
    cuts: list[int],
) -> None:
    offline_first, steps = story
    batched, single = seed_small_city(db), seed_small_city(db)
    outcomes: dict[str, list[Outcome]] = {}
    for name, city in (("batched", batched), ("single", single)):
        if offline_first:  # supervision raised "device offline" for the button
            with db.session() as session:
                button = session.get_one(Device, city.device_id)
                ingest.device_offline(session, button, T0 - timedelta(minutes=5), "missed")
        messages = _messages(city, steps)
        if name == "single":
            outcomes[name] = ingest.store_each(messages)
            continue
        outcomes[name], start = [], 0
        for size in [*cuts, len(messages)]:
            if start < len(messages):
                outcomes[name] += ingest.store_batch(messages[start : start + size])
                start += size
    assert outcomes["batched"] == outcomes["single"]
    assert _snapshot(db, batched) == _snapshot(db, single)


def test_dead_letters_are_capped_in_size_and_in_number(db: Database, ingest: Ingest) -> None:
    seed_small_city(db)
    kept = Ingest(db, ingest.catalog, merge_window_s=300, dead_letters_kept=3)
    huge = Inbound("carebell/v1/devices/" + "x" * 5000 + "/events", b"y" * 100_000, T0)
    assert kept.store_batch([huge]) == [Outcome.REJECTED]
    for i in range(4):
        message = Inbound(events_topic("nobody"), event_payload(f"n{i}", "press", T0), T0)
        assert kept.store_each([message]) == [Outcome.REJECTED]
    with db.session() as session:
        letters = session.exec(select(DeadLetter).order_by(col(DeadLetter.id))).all()
    # The newest three kept; the oversized one (the oldest) dropped with the rest.
    assert [json.loads(d.payload)["event_id"] for d in letters] == ["n1", "n2", "n3"]
    assert {d.reason for d in letters} == {"unknown_device"}


def test_an_oversized_message_is_kept_cut(db: Database, ingest: Ingest) -> None:
    huge = Inbound("carebell/v1/devices/" + "x" * 5000 + "/events", b"y" * 100_000, T0)
    assert ingest.store_batch([huge]) == [Outcome.REJECTED]
    with db.session() as session:
        [letter] = session.exec(select(DeadLetter)).all()
    assert letter.reason == "bad_topic"
    assert len(letter.topic) <= 256
    assert len(letter.payload) <= 8192
