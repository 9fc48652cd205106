"""Two server processes share one broker, Redis and database and serve one consistent stream."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import func, select

from devices.mqtt import BrokerAddress
from devices.protocol import event_payload, events_topic
from dispatch.store.db import Database
from dispatch.store.tables import Alert, DeadLetter, Device, DeviceEvent
from simulators import local_services
from simulators.devices import DevicePublisher
from tests.helpers import CENTER, LiveClient, bearer, login, seed_small_city, wait_until


class ServerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = int(env["CAREBELL_HTTP_PORT"])
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dispatch", "serve", "--log-level", "warning"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout_s: float = 90) -> None:  # start-up takes long at load 20
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server on {self.port} exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.http}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        # Stopped here: a caller whose start-up failed never reaches its own stop,
        # and the server outlived the test session (a ResourceWarning in a later test).
        self.stop()
        raise RuntimeError(f"server on {self.port} not ready in {timeout_s}s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()  # reaped: no ResourceWarning later


@pytest.fixture
def two_servers(
    postgres_url: str,
    private_mosquitto: local_services.LocalServer,
    redis_server: local_services.LocalServer,
    tmp_path: Path,
) -> Iterator[tuple[ServerProcess, ServerProcess, Database]]:
    db = Database(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    db.create_schema()
    tag = uuid.uuid4().hex[:8]
    common = {
        **os.environ,
        "CAREBELL_DATABASE_URL": postgres_url,
        "CAREBELL_MQTT_URL": private_mosquitto.url,
        "CAREBELL_REDIS_URL": redis_server.url,
        "CAREBELL_REDIS_PREFIX": f"two-{tag}",
        "CAREBELL_MQTT_SHARE_GROUP": f"g{tag}",
        "CAREBELL_DISPATCH_TICK_S": "0.2",
    }
    servers = [
        ServerProcess(
            {
                **common,
                "CAREBELL_HTTP_PORT": str(local_services.free_port()),
                # No client id: each derives its own from the host name and its replica.
                "CAREBELL_REPLICA": str(i),
            },
            tmp_path / f"server{i}.log",
        )
        for i in range(2)
    ]
    try:
        for server in servers:
            server.wait_ready()
        yield servers[0], servers[1], db
    finally:
        for server in servers:
            server.stop()
        db.dispose()


async def test_two_processes_serve_one_consistent_stream(
    two_servers: tuple[ServerProcess, ServerProcess, Database],
    private_mosquitto: local_services.LocalServer,
) -> None:
    a, b, db = two_servers
    city = seed_small_city(db)
    supervisor = await login(a.http, db, "supervisor")
    board_a = await LiveClient.connect(f"{a.ws}/ws/v1/board", supervisor)
    board_b = await LiveClient.connect(f"{b.ws}/ws/v1/board", supervisor)
    app_token = await login(b.http, db, "caregiver", caregiver_id=city.near_id)
    caregiver = await LiveClient.connect(f"{b.ws}/ws/v1/caregivers/{city.near_id}", app_token)
    await caregiver.send(type="position", lat=CENTER[0] + 0.0045, lon=CENTER[1])
    await board_a.next("caregiver.position")  # written by B, seen through A

    publisher = DevicePublisher(private_mosquitto.url)
    publisher.connect()
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    publisher.close()

    offer = await caregiver.next("order.offered")
    order_id = offer["order"]["id"]
    await caregiver.send(type="action", action="accept", order_id=order_id, ref="ok")
    assert (await caregiver.next("reply", ref="ok"))["state"] == "accepted"

    seen_a = await board_a.next("alert.accepted")
    seen_b = await board_b.next("alert.accepted")
    assert seen_a["seq"] == seen_b["seq"]

    def steps(client: LiveClient) -> list[tuple[str, str]]:
        return [
            (m["seq"], m["type"])
            for m in client.received
            if "seq" in m and m["type"] != "caregiver.position"
        ]

    assert steps(board_a) == steps(board_b)
    assert [t for _, t in steps(board_a)] == [
        "alert.raised",
        "alert.dispatching",
        "order.offered",
        "alert.offered",
        "order.accepted",
        "alert.accepted",
    ]
    async with httpx.AsyncClient(headers=bearer(supervisor)) as http:
        from_a = (await http.get(f"{a.http}/api/v1/alerts")).json()
        from_b = (await http.get(f"{b.http}/api/v1/alerts")).json()
    assert len(from_a) == 1
    assert from_a == from_b
    for client in (board_a, board_b, caregiver):
        await client.close()
    # Each kept its own session: the broker never closed one for the other.
    broker_log = (private_mosquitto.workdir / "mosquitto.log").read_text()
    assert "already connected" not in broker_log


def _publish_once(url: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1, each once, and wait for the broker (no device retries)."""
    address = BrokerAddress.parse(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.connect(address.host, address.port)
    client.loop_start()
    for info in [client.publish(t, p, qos=1) for t, p in messages]:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


async def _stored_by(server: ServerProcess) -> float:
    """Device messages this process's gateway took and stored (its own metrics)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{server.http}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("carebell_device_messages_total{")
    )


async def test_two_gateways_share_the_presses_with_none_lost_or_counted_twice(
    two_servers: tuple[ServerProcess, ServerProcess, Database],
    private_mosquitto: local_services.LocalServer,
) -> None:
    """Two server processes on one PostgreSQL and one broker take the devices'
    messages from one shared subscription: each takes a share, every press is
    stored once, a device's presses that reach both join one alert (none raised
    twice, no press count lost), and a device's retry of an event is a duplicate."""
    a, b, db = two_servers
    devices = [f"pb-share-{i:03d}" for i in range(120)]
    now = datetime.now(UTC)
    with db.session() as session:
        session.add_all(
            Device(id=d, kind="panic_button", online=True, last_seen_at=now) for d in devices
        )
    where = {"lat": CENTER[0], "lon": CENTER[1]}
    rounds = [[(d, uuid.uuid4().hex) for d in devices] for _ in range(3)]
    messages = [
        (events_topic(d), event_payload(e, "press", now, position=where))
        for one_round in rounds
        for d, e in one_round
    ]
    retries = messages[: len(devices)]  # the first press of each, sent again (same id)
    await asyncio.to_thread(_publish_once, private_mosquitto.url, messages + retries)

    def stored() -> tuple[int, int, int]:
        with db.session() as session:
            return (
                int(session.exec(select(func.count()).select_from(DeviceEvent)).one()),
                int(session.exec(select(func.count()).select_from(Alert)).one()),
                int(session.exec(select(func.count()).select_from(DeadLetter)).one()),
            )

    async def all_handled() -> bool:
        taken = await _stored_by(a) + await _stored_by(b)
        return taken >= len(messages) + len(retries)

    await wait_until(all_handled, timeout_s=60, every_s=0.2)
    assert stored() == (len(messages), len(devices), 0)
    with db.session() as session:
        alerts = session.exec(select(Alert)).all()
    assert sorted(str(x.device_id) for x in alerts) == devices  # one alert per device
    assert {x.press_count for x in alerts} == {3}  # every press counted, none twice
    # The broker split the work: each process stored some of it.
    assert await _stored_by(a) > 0
    assert await _stored_by(b) > 0
