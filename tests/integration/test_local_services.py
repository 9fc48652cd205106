"""The demo's fallbacks for machines without mosquitto or redis-server binaries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis

from devices.gateway import MqttGateway
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
