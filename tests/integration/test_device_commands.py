"""The elder's device hears back: received, a caregiver on the way, closed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt
import pytest

from config.settings import Settings
from devices.mqtt import BrokerAddress
from devices.protocol import CommandPayload, commands_topic
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import CENTER, LiveClient, SmallCity, login, seed_small_city, wait_until


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def test_a_press_hears_back_at_each_step_on_its_commands_topic(
    server: RunningServer, settings: Settings
) -> None:
    city: SmallCity = await asyncio.to_thread(seed_small_city, server.services.db)
    broker = BrokerAddress.parse(settings.mqtt_url)
    heard: list[dict[str, Any]] = []
    async with aiomqtt.Client(broker.host, broker.port) as device:
        await device.subscribe(commands_topic(city.device_id), qos=1)

        async def listen() -> None:
            async for message in device.messages:
                heard.append(json.loads(message.payload))  # type: ignore[arg-type]

        listener = asyncio.create_task(listen())
        token = await login(server.http, server.services.db, "caregiver", caregiver_id=city.near_id)
        app = await LiveClient.connect(f"{server.ws}/ws/v1/caregivers/{city.near_id}", token)
        await app.send(type="position", lat=CENTER[0] + 0.0045, lon=CENTER[1])
        bus = server.services.bus
        await wait_until(lambda: bus.nearby(CENTER[0], CENTER[1], 5000, 50))

        publisher = DevicePublisher(settings.mqtt_url)
        await asyncio.to_thread(publisher.connect)
        await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
        publisher.close()

        await wait_until(lambda: _has(heard, "alert_received"))
        offer = await app.next("order.offered")
        order_id = offer["order"]["id"]
        for action in ("accept", "en_route", "arrive", "complete"):
            await app.send(
                type="action", action=action, order_id=order_id, ref=action, code="needed_help"
            )
            await app.next("reply", ref=action)
        await wait_until(lambda: _has(heard, "alert_closed"))
        listener.cancel()
        await app.close()

    assert [h["type"] for h in heard] == ["alert_received", "caregiver_on_the_way", "alert_closed"]
    for body in heard:
        CommandPayload.model_validate(body)  # each one as documented
        assert body["alert_id"] == offer["alert"]["id"]
    assert heard[1]["eta_s"] > 0


async def _has(heard: list[dict[str, Any]], type_: str) -> bool:
    return any(h["type"] == type_ for h in heard)
