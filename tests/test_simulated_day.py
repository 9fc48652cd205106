"""The simulated day: call rates that follow the clock, and devices' routine traffic."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiomqtt
import pytest
from pydantic import ValidationError

from devices.mqtt import BrokerAddress
from devices.protocol import TOPIC_ROOT
from simulators import local_services
from simulators.fleet import SimDevice
from simulators.scenario import DayProfile, Scenario
from simulators.schedule import call_times, rate_factor

NIGHT_AND_DAY = [0.0] * 6 + [1.0] * 6 + [3.0] * 6 + [0.0] * 6


def scenario(**overrides: Any) -> Scenario:
    base: dict[str, Any] = {"name": "t", "duration_s": 2400, "devices": 10, "help_per_hour": 3600}
    return Scenario.model_validate(base | overrides)


def test_a_flat_rate_gives_the_expected_number_of_calls() -> None:
    times = list(call_times(scenario(), random.Random(1)))
    # 3,600 an hour for 40 minutes: 2,400 expected; Poisson sd ~49.
    assert 2400 - 200 < len(times) < 2400 + 200
    assert times == sorted(times)
    assert all(0 < t < 2400 for t in times)


def test_calls_follow_the_hours_of_the_day() -> None:
    day = scenario(day={"weights": NIGHT_AND_DAY})
    times = list(call_times(day, random.Random(2)))
    quarter = 2400 / 4  # each quarter of the run stands for six hours
    by_quarter = [sum(q * quarter <= t < (q + 1) * quarter for t in times) for q in range(4)]
    assert by_quarter[0] == 0
    assert by_quarter[3] == 0
    # The afternoon weighs three times the morning.
    assert 2.4 < by_quarter[2] / by_quarter[1] < 3.6
    # The profile moves calls between hours; the mean rate stays the scenario's.
    assert 2400 - 200 < len(times) < 2400 + 200


def test_a_run_may_stand_for_part_of_a_day_across_midnight() -> None:
    profile = DayProfile(starts_at_hour=22, hours=4, weights=[1.0] * 2 + [0.0] * 20 + [3.0] * 2)
    assert profile.hour_at(0.0) == 22
    assert profile.hour_at(0.75) == 1
    assert profile.mean_weight == pytest.approx(2.0)
    night = scenario(day=profile.model_dump())
    assert rate_factor(night, 100) == pytest.approx(1.5)  # 22:00-24:00
    assert rate_factor(night, 2000) == pytest.approx(0.5)  # after midnight


@pytest.mark.parametrize(
    "weights", [[0.0] * 24, [1.0] * 23, [-1.0] + [1.0] * 23], ids=["all-zero", "23", "negative"]
)
def test_a_bad_profile_is_refused(weights: list[float]) -> None:
    with pytest.raises(ValidationError):
        scenario(day={"weights": weights})


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
