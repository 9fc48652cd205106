"""The MQTT gateway against a real Mosquitto: acknowledge after commit, no loss, no double."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import func, select

from config.settings import Settings
from devices.errors import BrokerUnavailable
from devices.gateway import MqttGateway
from devices.mqtt import BrokerAddress
from devices.protocol import commands_topic, event_payload, events_topic
from dispatch.emergency.ingest import Inbound, Ingest
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.db import Database
from dispatch.store.tables import Alert, DeadLetter, DeviceEvent
from simulators import local_services
from simulators.devices import DevicePublisher
from tests.helpers import seed_small_city, wait_until


@pytest.fixture
def store(sqlite_url: str) -> Database:
    db = Database(sqlite_url)
    db.create_schema()
    return db


def committing_handler(db: Database) -> Callable[[list[tuple[str, bytes]]], object]:
    ingest = Ingest(db, load_catalog(Settings().alert_types_file), merge_window_s=0)

    async def handle(batch: list[tuple[str, bytes]]) -> None:
        at = datetime.now(UTC)
        await asyncio.to_thread(ingest.store_batch, [Inbound(t, p, at) for t, p in batch])

    return handle


def count(db: Database, table: type) -> int:
    with db.session() as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


async def counted(db: Database, table: type, expected: int) -> bool:
    return await asyncio.to_thread(count, db, table) == expected


@pytest.fixture
def gateway_id() -> str:
    return f"gw-{uuid.uuid4().hex[:8]}"


async def start_gateway(url: str, handler, client_id: str, group: str = "") -> MqttGateway:  # type: ignore[no-untyped-def]
    gateway = MqttGateway(url, handler=handler, client_id=client_id, share_group=group)
    await gateway.start()
    return gateway


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("group", ["", "carebell"], ids=["plain", "shared"])
async def test_gateway_crash_before_commit_redelivers_and_stores_once(
    private_mosquitto: local_services.LocalServer,
    store: Database,
    gateway_id: str,
    group: str,
    running: list[asyncio.Task[None]],
) -> None:
    city = seed_small_city(store)
    received = asyncio.Event()

    async def never_commits(batch: list[tuple[str, bytes]]) -> None:
        received.set()
        await asyncio.Event().wait()  # the process "dies" before committing

    first = await start_gateway(private_mosquitto.url, never_commits, gateway_id, group)
    running.append(asyncio.create_task(first.run()))
    publisher = DevicePublisher(private_mosquitto.url)
    publisher.connect()
    event_id = publisher.publish_event(city.device_id, "press")
    await asyncio.wait_for(received.wait(), 10)
    # Crash: the socket drops with the message unacknowledged, no DISCONNECT sent.
    first.client.socket().close()  # type: ignore[union-attr]
    first.client.loop_stop()
    assert count(store, Alert) == 0

    second = await start_gateway(
        private_mosquitto.url, committing_handler(store), gateway_id, group
    )
    running.append(asyncio.create_task(second.run()))
    await wait_until(lambda: counted(store, Alert, 1))

    # A device that repeats the same event id (its own retry) changes nothing.
    publisher.publish_event(city.device_id, "press", event_id=event_id)
    await asyncio.sleep(0.5)
    assert count(store, Alert) == 1
    publisher.close()
    await second.stop()


async def test_broker_restart_keeps_queued_alerts(
    private_mosquitto: local_services.LocalServer,
    store: Database,
    gateway_id: str,
    running: list[asyncio.Task[None]],
) -> None:
    city = seed_small_city(store)
    handler = committing_handler(store)
    gateway = await start_gateway(private_mosquitto.url, handler, gateway_id)
    await gateway.stop()  # offline, but its persistent session keeps subscribing

    publisher = DevicePublisher(private_mosquitto.url)
    publisher.connect()
    for _ in range(20):
        publisher.publish_event(city.device_id, "press")  # each waits for its PUBACK
    publisher.close()
    private_mosquitto.restart()

    gateway = await start_gateway(private_mosquitto.url, handler, gateway_id)
    running.append(asyncio.create_task(gateway.run()))
    await wait_until(lambda: counted(store, DeviceEvent, 20))
    await asyncio.sleep(0.3)
    assert count(store, DeviceEvent) == 20
    await gateway.stop()


async def test_malformed_and_unknown_messages_are_kept_and_the_gateway_lives_on(
    mosquitto: local_services.LocalServer,
    store: Database,
    gateway_id: str,
    running: list[asyncio.Task[None]],
) -> None:
    city = seed_small_city(store)
    gateway = await start_gateway(
        mosquitto.url, committing_handler(store), gateway_id, group=gateway_id
    )
    running.append(asyncio.create_task(gateway.run()))
    publisher = DevicePublisher(mosquitto.url)
    publisher.connect()
    publisher.client.publish(f"carebell/v1/devices/{city.device_id}/events", b"{oops", qos=1)
    publisher.publish_event("no-such-device", "press")
    publisher.publish_event(city.device_id, "press")
    await wait_until(lambda: counted(store, DeadLetter, 2))
    await wait_until(lambda: counted(store, Alert, 1))
    with store.session() as session:
        reasons = sorted(d.reason for d in session.exec(select(DeadLetter)).all())
    assert reasons == ["not_json", "unknown_device"]
    publisher.close()
    await gateway.stop()


async def test_a_database_away_holds_the_batch_until_it_is_back(
    private_mosquitto: local_services.LocalServer,
    postgres_url: str,
    postgres_admin_url: str,
    gateway_id: str,
    running: list[asyncio.Task[None]],
) -> None:
    """PostgreSQL refuses connections for a while: the gateway keeps the batch,
    unacknowledged, tries it again, and stores it once, when the database is back."""
    db = Database(postgres_url)
    db.create_schema()
    city = seed_small_city(db)
    gateway = await start_gateway(private_mosquitto.url, committing_handler(db), gateway_id)
    running.append(asyncio.create_task(gateway.run()))
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
    try:
        publisher = DevicePublisher(private_mosquitto.url)
        publisher.connect()
        publisher.publish_event(city.device_id, "press")
        await wait_until(lambda: asyncio.sleep(0, gateway.failing_since is not None))
        await asyncio.sleep(1.5)  # a retry or two, refused
        assert gateway.backlog == 1  # held, not acknowledged
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    await wait_until(lambda: counted(db, Alert, 1), timeout_s=20)
    assert (gateway.failing_since, gateway.backlog) == (None, 0)
    await asyncio.sleep(0.5)
    assert count(db, Alert) == 1
    publisher.close()
    await gateway.stop()
    db.dispose()


async def test_unreachable_broker_is_a_clear_error() -> None:
    port = local_services.free_port()
    gateway = MqttGateway(f"mqtt://127.0.0.1:{port}", handler=lambda b: asyncio.sleep(0))  # type: ignore[arg-type,return-value]
    with pytest.raises(Exception, match=f"127.0.0.1:{port} unavailable"):
        await gateway.start()


async def test_a_second_gateway_with_the_same_client_id_is_named_as_the_cause(
    private_mosquitto: local_services.LocalServer,
    store: Database,
    gateway_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = committing_handler(store)
    first = await start_gateway(private_mosquitto.url, handler, gateway_id)
    second = MqttGateway(private_mosquitto.url, handler=handler, client_id=gateway_id)
    try:
        await second.start()

        def taken_over() -> list[str]:
            return [
                r.getMessage()
                for r in caplog.records
                if r.levelname == "ERROR" and "CAREBELL_REPLICA" in r.getMessage()
            ]

        async def named() -> list[str]:
            return taken_over()

        [message, *_] = await wait_until(named, timeout_s=30)
        assert repr(gateway_id) in message
    finally:
        await second.stop()
        await first.stop()


async def test_gateways_of_two_replicas_keep_their_sessions(
    private_mosquitto: local_services.LocalServer,
    store: Database,
    running: list[asyncio.Task[None]],
) -> None:
    ids = [Settings(replica=n).gateway_client_id for n in (1, 2)]
    assert ids[0] != ids[1]
    handler = committing_handler(store)
    gateways = [await start_gateway(private_mosquitto.url, handler, i, "g") for i in ids]
    running.extend(asyncio.create_task(g.run()) for g in gateways)
    publisher = DevicePublisher(private_mosquitto.url)
    publisher.connect()
    try:
        city = seed_small_city(store)
        for n in range(10):
            await asyncio.to_thread(publisher.publish_event, city.device_id, "press", f"p{n}")
        await wait_until(lambda: counted(store, DeviceEvent, 10))
        assert all(g.is_connected for g in gateways)
    finally:
        publisher.close()
        for gateway in gateways:
            await gateway.stop()
    log = (private_mosquitto.workdir / "mosquitto.log").read_text()
    for client_id in ids:
        assert f"as {client_id} " in log  # "New client connected from ... as <id> (p5, ...)"
    assert "already connected" not in log


async def test_a_flood_from_one_device_waits_behind_another_devices_press(
    mosquitto: local_services.LocalServer,
    store: Database,
    gateway_id: str,
    running: list[asyncio.Task[None]],
) -> None:
    """300 presses from one button reach the gateway while it is busy, then one
    from another elder's: that one goes into the very next batch, and every press
    of the flood is still stored (devices/fair_share.py)."""
    flooder, quiet = seed_small_city(store).device_id, seed_small_city(store).device_id
    commit = committing_handler(store)
    busy = asyncio.Event()
    batches: list[list[str]] = []

    async def handle(batch: list[tuple[str, bytes]]) -> None:
        batches.append([topic.split("/")[3] for topic, _ in batch])
        if len(batches) == 1:
            await busy.wait()  # the first batch commits while the flood arrives
        await commit(batch)  # type: ignore[misc]

    gateway = MqttGateway(
        mosquitto.url, handler=handle, client_id=gateway_id, share_group=gateway_id, max_batch=50
    )
    await gateway.start()
    running.append(asyncio.create_task(gateway.run()))
    publisher = DevicePublisher(mosquitto.url)
    publisher.connect()

    def send(device_id: str) -> None:
        payload = event_payload(uuid.uuid4().hex, "press", datetime.now(UTC))
        publisher.client.publish(events_topic(device_id), payload, qos=1).wait_for_publish(10)

    for _ in range(300):
        await asyncio.to_thread(send, flooder)
    await asyncio.to_thread(send, quiet)
    await wait_until(lambda: asyncio.sleep(0, len(batches) == 1 and gateway.backlog == 301))
    busy.set()
    await wait_until(lambda: counted(store, DeviceEvent, 301), timeout_s=30)
    first_with_quiet = next(i for i, batch in enumerate(batches) if quiet in batch)
    assert first_with_quiet == 1, [len(b) for b in batches]
    assert sum(len(b) for b in batches) == 301  # each once: none lost, none twice
    publisher.close()
    await gateway.stop()


async def test_publish_all_returns_once_the_broker_has_every_message_and_fails_when_it_is_away(
    private_mosquitto: local_services.LocalServer, store: Database, gateway_id: str
) -> None:
    topics = [commands_topic(f"pb-{i}") for i in range(60)]
    heard: list[str] = []
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    listener.on_message = lambda _c, _u, m: heard.append(m.topic)
    address = BrokerAddress.parse(private_mosquitto.url)
    listener.connect(address.host, address.port)
    listener.subscribe(commands_topic("+"), qos=1)
    listener.loop_start()
    gateway = await start_gateway(private_mosquitto.url, committing_handler(store), gateway_id)
    try:
        await asyncio.sleep(0.5)  # the listener's subscription is in place
        await gateway.publish_all([])  # nothing to send: returns at once
        await gateway.publish_all([(t, b'{"type":"alert_received"}') for t in topics])

        async def all_heard() -> bool:
            return sorted(heard) == sorted(topics)

        await wait_until(all_heard, timeout_s=10)
        private_mosquitto.stop()
        with pytest.raises(BrokerUnavailable):
            await gateway.publish_all([(topics[0], b"{}")], timeout_s=1.0)
    finally:
        listener.loop_stop()
        await gateway.stop()
