"""End to end: a device keeps each event until CareBell says it is stored, so a
broker that dies before saving loses nothing (real private Mosquitto, killed)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func
from sqlmodel import select

from config.settings import Settings
from devices.mqtt import BrokerAddress
from devices.protocol import RECEIVED_FILTER, event_payload, events_topic, parse_received
from dispatch.runtime.composition import running_services
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Device, DeviceEvent
from simulators import local_services
from simulators.devices import DevicePublisher

DEVICES, PRESSES = 60, 30  # 1,800 presses
WHERE = {"lat": 30.27, "lon": 120.15}  # the devices have no elder: the press says where


async def wait_for(check, timeout_s: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    """Poll ``check`` (a bound on a failure, not a measurement)."""
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.2)


def stored(db: Database) -> int:
    with db.session() as session:
        return int(session.exec(select(func.count()).select_from(DeviceEvent)).one())


async def test_presses_survive_a_broker_killed_while_the_server_is_down(
    private_mosquitto: local_services.LocalServer,
    redis_server: local_services.LocalServer,
    database_url: str,
) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=database_url,
        mqtt_url=private_mosquitto.url,
        redis_url=redis_server.url,
        redis_prefix=f"test-{tag}",
        mqtt_client_id=f"gateway-{tag}",
        mqtt_share_group=f"g{tag}",
        roles={"gateway"},
    )
    db = Database(settings.database_url)
    db.create_schema()
    ids = [f"pb-{tag}-{i:03d}" for i in range(DEVICES)]
    with db.session() as session:
        session.add_all(Device(id=d, kind="panic_button", online=True) for d in ids)

    async with running_services(settings):
        await asyncio.sleep(0.3)  # subscribed once: the broker keeps its session
    # The server is down. The devices press, and the broker acknowledges each.
    devices = DevicePublisher(private_mosquitto.url, resend_after_s=3.0)
    devices.connect()
    for n in range(PRESSES):
        for device_id in ids:
            devices.publish_event(device_id, "press", event_id=f"{n:02d}", position=WHERE)
    assert devices.unconfirmed == DEVICES * PRESSES
    # The broker dies before it saves, and comes back with what it had on disk.
    private_mosquitto.kill()
    private_mosquitto.start()

    async with running_services(settings):
        await wait_for(lambda: devices.unconfirmed == 0)
        await asyncio.sleep(1.0)  # late repeats of what was already confirmed, stored too
    devices.close()

    with db.session() as session:
        events = session.exec(select(func.count()).select_from(DeviceEvent)).one()
        alerts = session.exec(select(Alert)).all()
    db.dispose()
    assert events == DEVICES * PRESSES  # none lost, each stored once
    assert len(alerts) == DEVICES
    assert sorted({a.press_count for a in alerts}) == [PRESSES]  # none counted twice


async def test_the_server_tells_each_device_what_it_stored(
    mosquitto: local_services.LocalServer,
    redis_server: local_services.LocalServer,
    sqlite_url: str,
) -> None:
    """The receipt goes to the device's own topic, after the commit, duplicates too."""
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=sqlite_url,
        mqtt_url=mosquitto.url,
        redis_url=redis_server.url,
        redis_prefix=f"test-{tag}",
        mqtt_client_id=f"gateway-{tag}",
        mqtt_share_group=f"g{tag}",
        roles={"gateway"},
    )
    db = Database(settings.database_url)
    db.create_schema()
    device_id = f"pb-{tag}"
    with db.session() as session:
        session.add(Device(id=device_id, kind="panic_button", online=True))
    heard: list[tuple[str, list[str]]] = []
    address = BrokerAddress.parse(mosquitto.url)
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    listener.on_message = lambda _c, _u, m: heard.append(
        (m.topic, parse_received(bytes(m.payload)))
    )
    subscribed = threading.Event()
    listener.on_connect = lambda c, *_: c.subscribe(RECEIVED_FILTER, qos=1)
    listener.on_subscribe = lambda *_: subscribed.set()
    listener.connect(address.host, address.port)
    listener.loop_start()
    assert subscribed.wait(30)
    async with running_services(settings):
        await asyncio.sleep(0.3)  # subscribed once: the broker keeps what comes meanwhile
    now = datetime.now(UTC)
    for event_id in ("a", "b", "a"):
        payload = event_payload(event_id, "press", now, position=WHERE)
        listener.publish(events_topic(device_id), payload, qos=1).wait_for_publish(10)
    listener.publish(events_topic(device_id), b"{oops", qos=1).wait_for_publish(10)
    async with running_services(settings):
        await wait_for(lambda: stored(db) == 2)  # what was stored, first: a clearer failure
        await wait_for(lambda: {i for _, ids in heard for i in ids} == {"a", "b"})
        await asyncio.sleep(0.5)
    listener.disconnect()
    listener.loop_stop()
    db.dispose()
    topics = {topic for topic, _ in heard}
    assert topics == {f"carebell/v1/devices/{device_id}/received"}
    # The repeat is confirmed too (the device cannot tell which copy arrived), once
    # per receipt; the refused message never.
    assert {i for _, ids in heard for i in ids} == {"a", "b"}
    assert all(len(ids) == len(set(ids)) for _, ids in heard)
