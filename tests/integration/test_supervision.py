"""Devices that stop checking in, or whose connection drops, raise "device offline"."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import select

from config.settings import Settings
from devices.mqtt import BrokerAddress
from devices.protocol import status_topic
from dispatch.domain import device_rules
from dispatch.domain.lifecycle import AlertState
from dispatch.emergency.ingest import Ingest
from dispatch.emergency.supervision import Supervisor
from dispatch.runtime.catalog_file import load_catalog
from dispatch.runtime.composition import running_services
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Device
from tests.conftest import RunningServer
from tests.helpers import seed_small_city, wait_until

DAY = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in the city
NIGHT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 23:00 in the city


def last_heard(db: Database, device_id: str, at: datetime) -> None:
    with db.session() as session:
        device = session.get(Device, device_id)
        assert device is not None
        device.online, device.last_seen_at = True, at
        session.add(device)


def offline_alerts(db: Database) -> list[Alert]:
    with db.session() as session:
        query = select(Alert).where(Alert.alert_type == device_rules.DEVICE_OFFLINE)
        return list(session.exec(query).all())


def test_a_silent_device_is_found_once_and_a_quiet_wearable_is_only_marked(db: Database) -> None:
    city = seed_small_city(db)
    ingest = Ingest(db, load_catalog(Settings().alert_types_file), merge_window_s=300)
    supervisor = Supervisor(db, ingest)
    # The button was last heard 11 minutes ago (its window: 2 × 5 min); the wearable 20.
    last_heard(db, city.device_id, DAY - timedelta(minutes=11))
    last_heard(db, city.wearable_id, NIGHT - timedelta(minutes=20))
    assert supervisor.sweep(DAY) == 1
    [alert] = offline_alerts(db)
    assert (alert.device_id, alert.state) == (city.device_id, AlertState.ESCALATED)
    assert supervisor.sweep(DAY + timedelta(minutes=1)) == 0  # raised once, not every sweep
    # At night a wearable may lie on the bedside table: offline, but no alarm.
    assert supervisor.sweep(NIGHT) == 0
    with db.session() as session:
        wearable = session.get(Device, city.wearable_id)
        assert wearable is not None
        assert wearable.online is False


async def test_a_device_that_went_silent_while_the_server_was_down_is_noticed_at_start(
    settings: Settings,
) -> None:
    db = Database(settings.database_url)
    db.create_schema()
    city = seed_small_city(db)
    # Heard from an hour ago, while no server ran: only the database knows.
    last_heard(db, city.device_id, datetime.now(UTC) - timedelta(hours=1))
    quick = settings.model_copy(update={"supervision_sweep_s": 0.2})
    async with running_services(quick):
        [alert] = await wait_until(lambda: asyncio.to_thread(offline_alerts, db))
    assert alert.device_id == city.device_id
    db.dispose()


async def test_a_connection_that_drops_fires_the_will_and_raises_device_offline(
    server: RunningServer, settings: Settings
) -> None:
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)
    # A short grace, and a sweep now and then from the test (the server's runs every 30 s).
    ingest = server.services.ingest
    ingest.catalog = replace(
        ingest.catalog, policy=replace(ingest.catalog.policy, will_grace_s=0.3)
    )
    supervisor = Supervisor(db, ingest)
    broker = BrokerAddress.parse(settings.mqtt_url)
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:6]}")
    device.will_set(status_topic(city.device_id), b'{"status":"offline"}', qos=1, retain=False)
    device.connect(broker.host, broker.port, keepalive=5)
    device.loop_start()
    device.publish(status_topic(city.device_id), b'{"status":"online"}', qos=1).wait_for_publish(5)

    def online() -> bool:
        with db.session() as session:
            row = session.get(Device, city.device_id)
            return row is not None and row.online is True

    await wait_until(lambda: asyncio.to_thread(online))
    # The device loses power: its socket closes with no goodbye, and the broker
    # publishes its will.
    device.loop_stop()
    sock = device.socket()
    assert sock is not None
    sock.close()

    def offline() -> bool:
        with db.session() as session:
            row = session.get(Device, city.device_id)
            return row is not None and row.online is False

    await wait_until(lambda: asyncio.to_thread(offline))
    await asyncio.sleep(0.4)  # past the grace: it did not come back
    assert await asyncio.to_thread(supervisor.sweep, datetime.now(UTC)) == 1
    [alert] = offline_alerts(db)
    assert alert.device_id == city.device_id
    assert alert.escalation_reason == device_rules.CALL_BACK_FIRST
