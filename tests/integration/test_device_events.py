"""Every kind of device, every event: the outcome the catalogue and the policies set.

Ingest on a real database (SQLite and PostgreSQL); the last test sends each event
through a real broker to a running server.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from config.settings import Settings
from devices.protocol import event_payload, events_topic, status_topic
from dispatch.domain import device_rules
from dispatch.domain.lifecycle import AlertState
from dispatch.emergency.ingest import Inbound, Ingest, Outcome
from dispatch.emergency.supervision import Supervisor
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.db import Database
from dispatch.store.tables import Alert, DeadLetter, Device, Elder
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import CENTER, SmallCity, seed_small_city, wait_until

DAY = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in the city
NIGHT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 23:00 in the city
CATALOG = load_catalog(Settings().alert_types_file)


@pytest.fixture
def ingest(db: Database) -> Ingest:
    return Ingest(db, CATALOG, merge_window_s=300)


@pytest.fixture
def city(db: Database) -> SmallCity:
    city = seed_small_city(db)
    with db.session() as session:
        elder = session.get(Elder, city.elder_id)
        assert elder is not None
        elder.heart_rate_min, elder.heart_rate_max, elder.geofence_radius_m = 50, 120, 1000.0
        session.add(elder)
        bell = Device(id=f"db-{uuid.uuid4().hex[:6]}", kind="door_bell", elder_id=city.elder_id)
        session.add(bell)
    return city


def event(device_id: str, type_: str, at: datetime = DAY, **extra: Any) -> Inbound:
    return Inbound(events_topic(device_id), event_payload(uuid.uuid4().hex, type_, at, **extra), at)


def status(device_id: str, online: bool, at: datetime = DAY) -> Inbound:
    body = b'{"status":"online"}' if online else b'{"status":"offline"}'
    return Inbound(status_topic(device_id), body, at)


def only_alert(db: Database) -> Alert:
    with db.session() as session:
        [alert] = session.exec(select(Alert)).all()
        return alert


def device(db: Database, device_id: str) -> Device:
    with db.session() as session:
        found = session.get(Device, device_id)
        assert found is not None
        return found


def bell_of(db: Database, city: SmallCity) -> str:
    with db.session() as session:
        found = session.exec(
            select(Device).where(Device.elder_id == city.elder_id, Device.kind == "door_bell")
        ).one()
        return found.id


def test_a_cancel_soon_after_the_press_withdraws_the_alert(
    db: Database, ingest: Ingest, city: SmallCity
) -> None:
    ingest.store_batch([event(city.device_id, "press")])
    later = DAY + timedelta(seconds=30)
    assert ingest.store_batch([event(city.device_id, "cancel", later)]) == [Outcome.CLOSED]
    assert only_alert(db).state == AlertState.CANCELLED


def test_a_late_cancel_leaves_the_alert_for_a_call_back(
    db: Database, ingest: Ingest, city: SmallCity
) -> None:
    ingest.store_batch([event(city.device_id, "press")])
    late = DAY + timedelta(seconds=CATALOG.policy.cancel_window_s + 60)
    assert ingest.store_batch([event(city.device_id, "cancel", late)]) == [Outcome.UPDATED]
    assert only_alert(db).state == AlertState.RAISED


@pytest.mark.parametrize(
    ("confidence", "alert_type", "state"),
    [
        (0.95, "fall", AlertState.RAISED),
        (0.3, device_rules.FALL_UNCONFIRMED, AlertState.ESCALATED),
    ],
)
def test_a_fall_the_wearable_is_unsure_of_asks_for_a_call_back(
    db: Database,
    ingest: Ingest,
    city: SmallCity,
    confidence: float,
    alert_type: str,
    state: AlertState,
) -> None:
    ingest.store_batch([event(city.wearable_id, "fall", confidence=confidence)])
    alert = only_alert(db)
    assert (alert.alert_type, alert.state) == (alert_type, state)
    if state is AlertState.ESCALATED:
        assert alert.escalation_reason == device_rules.CALL_BACK_FIRST


def test_heart_rate_and_position_raise_only_outside_the_elders_limits(
    db: Database, ingest: Ingest, city: SmallCity
) -> None:
    wr = city.wearable_id
    near = {"lat": CENTER[0] + 0.002, "lon": CENTER[1]}  # ~220 m from home
    far = {"lat": CENTER[0] + 0.02, "lon": CENTER[1]}  # ~2.2 km
    quiet = [event(wr, "heartRate", heart_rate=72), event(wr, "position", position=near)]
    assert ingest.store_batch(quiet) == [Outcome.UPDATED, Outcome.UPDATED]
    state = device(db, wr)
    assert (state.lat, state.lon, state.worn) == (near["lat"], near["lon"], True)
    loud = [event(wr, "heartRate", heart_rate=150), event(wr, "position", position=far)]
    assert ingest.store_batch(loud) == [Outcome.RAISED, Outcome.RAISED]
    with db.session() as session:
        raised = {a.alert_type: a for a in session.exec(select(Alert)).all()}
    assert set(raised) == {device_rules.HEART_RATE, device_rules.GEOFENCE_EXIT}
    # Where the wearable is, not the elder's home, is where someone would go.
    assert raised[device_rules.GEOFENCE_EXIT].lat == far["lat"]


def test_a_bell_losing_power_and_getting_it_back(
    db: Database, ingest: Ingest, city: SmallCity
) -> None:
    bell = bell_of(db, city)
    assert ingest.store_batch([event(bell, "powerOff")]) == [Outcome.RAISED]
    assert only_alert(db).alert_type == "power_lost"
    later = DAY + timedelta(minutes=20)
    assert ingest.store_batch([event(bell, "powerRestored", later)]) == [Outcome.CLOSED]
    assert only_alert(db).state == AlertState.RESOLVED


def test_telemetry_updates_the_device_state_only(
    db: Database, ingest: Ingest, city: SmallCity
) -> None:
    outcomes = ingest.store_batch(
        [
            event(city.device_id, "lowBattery", battery=9, signal=-97),
            event(city.wearable_id, "removing"),
        ]
    )
    assert outcomes == [Outcome.UPDATED, Outcome.UPDATED]
    assert (device(db, city.device_id).battery, device(db, city.device_id).signal) == (9, -97)
    assert device(db, city.wearable_id).worn is False
    with db.session() as session:
        assert session.exec(select(Alert)).all() == []


def test_an_event_a_kind_cannot_send_is_dead_lettered(
    db: Database, ingest: Ingest, city: SmallCity
) -> None:
    assert ingest.store_batch([event(city.device_id, "fall")]) == [Outcome.REJECTED]
    with db.session() as session:
        [letter] = session.exec(select(DeadLetter)).all()
    assert letter.reason == "unknown_event"


def test_a_dropped_connection_raises_device_offline_after_its_grace_until_it_is_back(
    db: Database, ingest: Ingest, city: SmallCity
) -> None:
    supervisor = Supervisor(db, ingest)
    grace = timedelta(seconds=CATALOG.policy.will_grace_s)
    ingest.store_batch([status(city.device_id, True)])
    # The will fires: offline at once, but a blip (a broker restart) is no alarm yet.
    assert ingest.store_batch([status(city.device_id, False)]) == [Outcome.UPDATED]
    assert device(db, city.device_id).online is False
    assert supervisor.sweep(DAY + grace / 2) == 0
    # Still gone after the grace: the operators call the elder.
    assert supervisor.sweep(DAY + grace * 2) == 1
    alert = only_alert(db)
    assert (alert.alert_type, alert.state) == (device_rules.DEVICE_OFFLINE, AlertState.ESCALATED)
    assert supervisor.sweep(DAY + grace * 3) == 0  # once per absence
    back = DAY + timedelta(minutes=10)
    assert ingest.store_batch([status(city.device_id, True, back)]) == [Outcome.CLOSED]
    assert only_alert(db).state == AlertState.RESOLVED


def test_a_device_back_within_its_grace_raises_nothing(
    db: Database, ingest: Ingest, city: SmallCity
) -> None:
    ingest.store_batch([status(city.device_id, True), status(city.device_id, False)])
    back = DAY + timedelta(seconds=5)
    assert ingest.store_batch([event(city.device_id, "heartbeat", back)]) == [Outcome.UPDATED]
    assert Supervisor(db, ingest).sweep(DAY + timedelta(minutes=5)) == 0
    assert device(db, city.device_id).online is True
    with db.session() as session:
        assert session.exec(select(Alert)).all() == []


def test_a_wearable_off_at_night_is_no_alarm(db: Database, ingest: Ingest, city: SmallCity) -> None:
    ingest.store_batch([status(city.wearable_id, True, NIGHT)])
    assert ingest.store_batch([status(city.wearable_id, False, NIGHT)]) == [Outcome.UPDATED]
    assert Supervisor(db, ingest).sweep(NIGHT + timedelta(minutes=5)) == 0
    assert device(db, city.wearable_id).online is False
    with db.session() as session:
        assert session.exec(select(Alert)).all() == []


# Each kind's events through a real broker to a running server: (kind, event,
# extra payload) -> the alert type it raises, or None.
THROUGH_THE_BROKER = [
    ("panic_button", "press", {}, "help_button"),
    ("panic_button", "longPress", {}, "sos"),
    ("panic_button", "lowBattery", {"battery": 10}, None),
    ("door_bell", "press", {}, "door_bell"),
    ("door_bell", "tampering", {}, "tampering"),
    ("door_bell", "powerOff", {}, "power_lost"),
    ("wearable", "sos", {}, "sos"),
    ("wearable", "fall", {"confidence": 0.9}, "fall"),
    ("wearable", "fall", {"confidence": 0.2}, "fall_unconfirmed"),
    ("wearable", "heartRate", {"heart_rate": 180}, "heart_rate"),
    ("wearable", "geofenceExit", {}, "geofence_exit"),
    ("wearable", "inactivity", {}, "inactivity"),
    ("wearable", "removing", {}, None),
]


async def test_each_kinds_events_reach_the_right_outcome_through_the_broker(
    server: RunningServer, settings: Settings
) -> None:
    db = server.services.db
    devices: list[tuple[str, str, dict[str, Any], str | None]] = []

    def register() -> None:
        with db.session() as session:
            elder = Elder(name="测试", address="测试地址", lat=CENTER[0], lon=CENTER[1])
            elder.heart_rate_min, elder.heart_rate_max = 50, 120
            session.add(elder)
            session.flush()
            for kind, type_, extra, expected in THROUGH_THE_BROKER:
                device_id = f"k-{uuid.uuid4().hex[:8]}"  # one device each: nothing merges
                session.add(Device(id=device_id, kind=kind, elder_id=elder.id))
                devices.append((device_id, type_, extra, expected))

    await asyncio.to_thread(register)
    publisher = DevicePublisher(settings.mqtt_url)
    await asyncio.to_thread(publisher.connect)
    try:
        for device_id, type_, extra, _ in devices:
            await asyncio.to_thread(publisher.publish_event, device_id, type_, **extra)
    finally:
        publisher.close()

    ids = [d for d, *_ in devices]

    def stored() -> dict[str, str] | None:
        with db.session() as session:
            seen = session.exec(
                select(Device).where(col(Device.id).in_(ids), col(Device.last_seen_at).is_not(None))
            ).all()
            if len(seen) < len(ids):
                return None
            return {
                a.device_id: a.alert_type
                for a in session.exec(select(Alert).where(col(Alert.device_id).in_(ids))).all()
            }

    raised = await wait_until(lambda: asyncio.to_thread(stored))
    assert raised == {d: expected for d, _, _, expected in devices if expected}
