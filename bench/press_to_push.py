"""Press-to-push latency through the real stack, beside the bare broker round trip.

Starts private Mosquitto and Redis, a CareBell server process (SQLite), connects
caregiver apps over WebSockets, then presses N buttons one after another over
MQTT QoS 1 and times each press until its offer arrives on a caregiver's socket.
In the same run it times N bare MQTT round trips (QoS 1 publish → paho
subscriber) on the same broker: the floor any MQTT-based design pays.

    .venv/bin/python bench/press_to_push.py --presses 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import websockets
from stall_floor import StallFloor, server_worst_stall_s

from simulators.baseline import broker_round_trips
from simulators.city import (
    DEMO_PASSWORD,
    caregiver_username,
)
from simulators.devices import DevicePublisher
from simulators.loadrun import spawn_stack
from simulators.socket_login import socket_login


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, ms: list[float]) -> str:
    return (
        f"{name:<28} n={len(ms):<4} median {statistics.median(ms):7.2f} ms   "
        f"p99 {percentile(ms, 0.99):7.2f} ms   worst {max(ms):7.2f} ms"
    )


async def caregiver_app(
    ws_url: str, token: str, offers: dict[str, float], ready: asyncio.Event
) -> None:
    """Accept and complete every offer at once, recording when each arrived."""
    async with websockets.connect(ws_url, compression=None, subprotocols=socket_login(token)) as ws:
        await ws.send(json.dumps({"type": "position", "lat": 30.2741, "lon": 120.1551}))
        ready.set()
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] != "order.offered":
                continue
            offers[message["alert"]["device_id"]] = time.perf_counter()
            order_id = message["order"]["id"]
            for action in ("accept", "arrive", "complete"):
                step = {"type": "action", "action": action, "order_id": order_id}
                await ws.send(json.dumps({**step, "code": "needed_help"}))


async def press_to_push(
    server: str,
    mqtt_url: str,
    devices: list[str],
    caregivers: list[tuple[str, str]],
    gap_s: float,
) -> list[float]:
    offers: dict[str, float] = {}
    readies = [asyncio.Event() for _ in caregivers]
    apps = [
        asyncio.create_task(caregiver_app(f"{server}/ws/v1/caregivers/{cid}", tok, offers, r))
        for (cid, tok), r in zip(caregivers, readies, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    await asyncio.sleep(1.0)
    publisher = DevicePublisher(mqtt_url)
    publisher.connect()
    pressed: dict[str, float] = {}
    for device_id in devices:
        pressed[device_id] = time.perf_counter()
        await asyncio.to_thread(publisher.publish_event, device_id, "press")
        await asyncio.sleep(gap_s)
    deadline = time.monotonic() + 30
    while len(offers) < len(devices) and time.monotonic() < deadline:  # noqa: ASYNC110 (bounded poll)
        await asyncio.sleep(0.1)
    publisher.close()
    for app in apps:
        app.cancel()
    await asyncio.gather(*apps, return_exceptions=True)
    missing = set(devices) - set(offers)
    if missing:
        raise RuntimeError(f"{len(missing)} presses never reached a caregiver")
    return [(offers[d] - pressed[d]) * 1000 for d in devices]


@dataclass(frozen=True)
class Run:
    broker_ms: list[float]  # bare MQTT QoS 1 round trips, the same run's floor
    offer_ms: list[float]  # press -> offer on a caregiver's socket
    server_worst_stall_ms: float  # the server's event loop, since its start
    server_cpu_ms_per_press: float  # server and its helper processes, over the presses
    machine_floor_stall_ms: float  # an idle process beside it, the same seconds

    def figures(self) -> dict[str, float]:
        return {
            "presses": len(self.offer_ms),
            "broker_median_ms": statistics.median(self.broker_ms),
            "broker_p99_ms": percentile(self.broker_ms, 0.99),
            "offer_median_ms": statistics.median(self.offer_ms),
            "offer_p99_ms": percentile(self.offer_ms, 0.99),
            "offer_worst_ms": max(self.offer_ms),
            "server_worst_stall_ms": self.server_worst_stall_ms,
            "server_cpu_ms_per_press": self.server_cpu_ms_per_press,
            "machine_floor_stall_ms": self.machine_floor_stall_ms,
        }


def cpu_s(process: psutil.Process) -> float:
    """CPU seconds of a process and its children: roughly what a press costs,
    whatever else the machine runs (unlike latency on a busy machine)."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = p.cpu_times()
            total += times.user + times.system
    return total


def measure(presses: int, gap_ms: float) -> Run:
    """One run: the bare broker round trip, press -> offer, and event-loop stalls."""
    with StallFloor() as floor:
        stack = spawn_stack(Path(tempfile.mkdtemp(prefix="carebell-bench-")), devices=452, seed=1)
        assert stack.city is not None
        try:
            devices = [d.id for d in stack.city.devices if d.kind != "wearable"][:presses]
            caregivers = []
            for i in range(1, len(stack.city.caregivers) + 1):
                login = httpx.post(
                    f"{stack.api}/api/v1/auth/login",
                    json={"username": caregiver_username(i), "password": DEMO_PASSWORD},
                    timeout=60,
                ).json()
                caregivers.append((login["user"]["caregiver_id"], login["token"]))
            baseline = broker_round_trips(stack.mqtt_url, len(devices))
            assert stack.server is not None
            server = psutil.Process(stack.server.pid)
            cpu_before = cpu_s(server)
            ours = asyncio.run(
                press_to_push(stack.ws, stack.mqtt_url, devices, caregivers, gap_ms / 1000)
            )
            cpu_per_press_ms = (cpu_s(server) - cpu_before) * 1000 / len(devices)
            stall_s = server_worst_stall_s(stack.api)
        finally:
            stack.stop()
    return Run(baseline, ours, stall_s * 1000, cpu_per_press_ms, floor.worst_s * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=100.0, help="between presses")
    args = parser.parse_args()
    run = measure(args.presses, args.gap_ms)
    f = run.figures()
    print(f"CareBell press-to-push, {len(run.offer_ms)} presses, one server process, SQLite")
    print(summary("bare MQTT QoS 1 round trip", run.broker_ms))
    print(summary("press -> offer on socket", run.offer_ms))
    print(
        f"ratio (median): {f['offer_median_ms'] / f['broker_median_ms']:.1f}x the "
        f"bare broker round trip; p99 ratio {f['offer_p99_ms'] / f['broker_p99_ms']:.1f}x"
    )
    print(
        f"worst event-loop stall: server {run.server_worst_stall_ms:.0f} ms (since its start), "
        f"an idle process beside it {run.machine_floor_stall_ms:.0f} ms"
    )
    print(f"server CPU per press (with its helper processes): {run.server_cpu_ms_per_press:.1f} ms")


if __name__ == "__main__":
    main()
