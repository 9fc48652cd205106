"""The simulated day: devices' routine traffic through a real broker."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiomqtt
import pytest

from devices.mqtt import BrokerAddress
from devices.protocol import TOPIC_ROOT
from simulators import local_services
from simulators.fleet import SimDevice


async def test_a_wearable_reports_its_position_and_a_silent_device_stops_checking_in(
    mosquitto: local_services.LocalServer,
) -> None:
    broker = BrokerAddress.parse(mosquitto.url)
    home = (31.2304, 121.4737)
    wearable = SimDevice(
        "wr-sim-1",
        "wearable",
        broker,
        "5",
        heartbeat_every_s=0.3,
        rng=random.Random(1),
        home=home,
        position_every_s=0.2,
    )
    bell = SimDevice(
        "db-sim-1", "door_bell", broker, "5", 0.3, random.Random(2), home=home, position_every_s=0.2
    )
    seen: list[tuple[str, dict[str, Any]]] = []
    async with aiomqtt.Client(broker.host, broker.port) as listener:
        await listener.subscribe(f"{TOPIC_ROOT}/+/events", qos=1)
        slots = asyncio.Semaphore(10)
        tasks = [asyncio.create_task(d.run(slots)) for d in (wearable, bell)]

        async def listen(until: float) -> None:
            loop = asyncio.get_running_loop()
            with_deadline = loop.time() + until
            async with asyncio.timeout(with_deadline - loop.time()):
                async for message in listener.messages:
                    seen.append((str(message.topic).split("/")[3], json.loads(message.payload)))

        with pytest.raises(TimeoutError):
            await listen(2.0)
        types = {(device, body["type"]) for device, body in seen}
        assert ("wr-sim-1", "position") in types
        assert ("wr-sim-1", "heartbeat") in types
        assert ("db-sim-1", "heartbeat") in types
        assert ("db-sim-1", "position") not in types  # a bell on the wall has no position
        for _device, body in seen:
            if body["type"] == "position":
                assert abs(body["position"]["lat"] - home[0]) < 0.01
                assert abs(body["position"]["lon"] - home[1]) < 0.01

        wearable.silent = True
        await asyncio.sleep(0.5)  # anything already due goes out
        seen.clear()
        with pytest.raises(TimeoutError):
            await listen(1.5)
        assert {device for device, _ in seen} == {"db-sim-1"}
        assert wearable.sent_by_type["position"] >= 3
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
