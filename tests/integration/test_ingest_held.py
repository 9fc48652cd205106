"""A fault of the server's own while storing is never a device's: the messages are
held (not dead-lettered, not acknowledged), tried again, /healthz says ingest is
failing, and once the fault is gone every message is stored once (real broker,
Redis, PostgreSQL and the gateway's ingest helper process)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import func, select

from devices.mqtt import BrokerAddress
from devices.protocol import event_payload, events_topic
from dispatch.store.db import Database
from dispatch.store.tables import Alert, DeadLetter, DeviceEvent
from tests.conftest import RunningServer
from tests.helpers import seed_small_city, wait_until


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url  # what production runs; the helper process stores into it


@pytest.fixture
def store(server: RunningServer) -> Iterator[Database]:
    db = Database(server.settings.database_url)
    yield db
    db.dispose()


def publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 once each and wait for the broker (a bare client: no device
    retries, so what is stored later was held by the gateway, not sent again)."""
    address = BrokerAddress.parse(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(address.host, address.port)
    client.loop_start()
    for info in [client.publish(t, p, qos=1) for t, p in messages]:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def counts(db: Database) -> tuple[int, int, int]:
    """(alerts, device events, dead letters) stored."""
    with db.session() as session:
        return tuple(  # type: ignore[return-value]
            int(session.exec(select(func.count()).select_from(table)).one())
            for table in (Alert, DeviceEvent, DeadLetter)
        )


def rename_column(url: str, old: str, new: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"ALTER TABLE device_event RENAME COLUMN {old} TO {new}")


async def test_a_batch_the_store_fails_on_is_held_and_stored_once_the_fault_is_gone(
    server: RunningServer, store: Database, postgres_url: str
) -> None:
    city = seed_small_city(store)
    assert server.services.ingest_process is not None  # the helper process, as shipped
    # The schema no longer matches the code (a helper of an older install, a half
    # applied migration): every write of an event fails, and it is no device's fault.
    rename_column(postgres_url, "alert_id", "alert_ref")
    now = datetime.now(UTC)
    ids = [uuid.uuid4().hex for _ in range(3)]
    messages = [
        (events_topic(city.device_id), event_payload(ids[0], "press", now)),
        (events_topic(city.wearable_id), event_payload(ids[1], "heartbeat", now)),
        (events_topic(city.device_id), event_payload(ids[2], "press", now)),  # merged
    ]
    publish(server.settings.mqtt_url, messages)
    gateway = server.services.gateway
    async with httpx.AsyncClient(base_url=server.http) as http:

        async def ingest_failing() -> bool:
            response = await http.get("/healthz")
            return response.status_code == 503 and response.json()["ingest"] is False

        await wait_until(ingest_failing, timeout_s=20)
        assert counts(store) == (0, 0, 0)  # nothing dead-lettered, nothing half-written
        assert gateway.backlog == 3  # held, unacknowledged

        rename_column(postgres_url, "alert_ref", "alert_id")  # the fault is mended

        async def healthy() -> bool:
            response = await http.get("/healthz")
            return response.status_code == 200 and response.json()["ingest"] is True

        await wait_until(healthy, timeout_s=30)
    assert counts(store) == (1, 3, 0)
    assert gateway.backlog == 0
    with store.session() as session:
        [alert] = session.exec(select(Alert)).all()
        stored = sorted(e.event_id for e in session.exec(select(DeviceEvent)).all())
    assert (alert.device_id, alert.press_count) == (city.device_id, 2)
    assert stored == sorted(ids)
