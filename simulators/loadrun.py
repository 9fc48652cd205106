"""Runs a scenario: a device fleet and caregiver apps against CareBell, then the report.

With ``spawn`` the run starts its own stack (Mosquitto, Redis, a server process
on SQLite, a city sized for the scenario), which it can also break on purpose
(broker restart, server killed). Against a running server, faults that need
control of the stack are skipped with a warning.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import psutil
import websockets
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from devices.mqtt import BrokerAddress
from dispatch.background import stop_tasks
from dispatch.domain.model import TransportMode
from dispatch.store.db import Database
from simulators import local_services
from simulators.baseline import broker_round_trips
from simulators.caregiver_app import AppBehaviour, CaregiverAppSim, CaregiverProfile
from simulators.city import (
    DEMO_PASSWORD,
    City,
    caregiver_username,
    generate_city,
    seed_accounts,
    seed_city,
)
from simulators.fleet import CONNECTS_AT_ONCE, Send, SimDevice
from simulators.metrics import Journey, RunMetrics, percentile
from simulators.scenario import FaultKind, Scenario
from simulators.schedule import call_times
from simulators.socket_login import socket_login

log = logging.getLogger(__name__)
DEVICES_PER_ELDER = 1.5  # the demo city's mix gives about this many
HELP_ALERTS = frozenset({"help_button", "door_bell", "sos", "fall"})  # what presses raise


@dataclass
class Stack:
    """What the run talks to, and (when it started them) the processes behind it."""

    api: str
    mqtt_url: str
    mqtt_protocol: str = "5"
    broker: local_services.LocalServer | None = None
    redis: local_services.LocalServer | None = None
    server: subprocess.Popen[bytes] | None = None
    server_env: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    city: City | None = None  # the seeded city, when the run made it

    @property
    def ws(self) -> str:
        return self.api.replace("http", "ws", 1)

    def start_server(self) -> None:
        assert self.workdir is not None
        with (self.workdir / "server.log").open("ab") as out:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "dispatch", "serve", "--log-level", "warning"],
                env=self.server_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_healthy(self.api)
        except BaseException:
            # A server too slow to start (a busy machine) was left serving, with
            # its broker and Redis, after the benchmark that started it failed.
            self.stop()
            raise

    def stop(self) -> None:
        try:
            if self.server is not None:
                self.server.terminate()
                try:
                    self.server.wait(20)
                except subprocess.TimeoutExpired:
                    log.warning("the server did not stop within 20 s of SIGTERM; killing it")
                    self.server.kill()
                    self.server.wait(10)
        finally:  # a broker or Redis left running would keep the caller's pipes open
            for process in (self.broker, self.redis):
                if process is not None:
                    process.stop()


def wait_healthy(api: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{api} did not become healthy in {timeout_s} s")


def spawn_stack(workdir: Path, *, devices: int, seed: int) -> Stack:
    """Broker, Redis, a seeded SQLite database and a server process, all private.

    The city has about ``devices`` devices and one caregiver per 30 of them (at
    least 36), all on shift whatever the hour; the demo accounts log in.
    """
    broker = local_services.mosquitto(workdir / "mqtt").start()
    redis = local_services.redis(workdir / "redis").start()
    n_elders = math.ceil(devices / DEVICES_PER_ELDER)
    city = generate_city(seed=seed, n_elders=n_elders, n_caregivers=max(36, devices // 30))
    for caregiver in city.caregivers:  # a load run must not depend on the hour
        caregiver.shift_start, caregiver.shift_end = clock(0, 0), clock(23, 59, 59)
    db_url = f"sqlite:///{workdir}/carebell.db"
    db = Database(db_url)
    db.create_schema()
    with db.session() as session:
        seed_city(session, city)
    seed_accounts(db, city)
    db.dispose()
    port = local_services.free_port()
    stack = Stack(
        api=f"http://127.0.0.1:{port}",
        mqtt_url=broker.url,
        broker=broker,
        redis=redis,
        workdir=workdir,
        city=city,
        server_env={
            **os.environ,
            "CAREBELL_DATABASE_URL": db_url,
            "CAREBELL_MQTT_URL": broker.url,
            "CAREBELL_REDIS_URL": redis.url,
            "CAREBELL_HTTP_PORT": str(port),
        },
    )
    stack.start_server()
    return stack


class Observer:
    """Turns what the board and the phones see into journeys, on the run's clock."""

    def __init__(self, metrics: RunMetrics, started: float) -> None:
        self.metrics, self.started = metrics, started
        self.device_of: dict[str, str] = {}  # alert id -> device id

    def now(self) -> float:
        return time.monotonic() - self.started

    def _journey(self, alert: dict[str, Any]) -> Journey | None:
        device = self.device_of.get(alert["id"]) or alert.get("device_id")
        return self.metrics.journeys.get(device) if device else None

    def on_board(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "alert.raised":
            alert = message["alert"]
            self.device_of[alert["id"]] = alert["device_id"]
            journey = self.metrics.journeys.get(alert["device_id"])
            if journey is not None and journey.stored_at is None:
                journey.alert_id, journey.stored_at = alert["id"], self.now()
                self.metrics.samples.append((self.now(), "stored", journey.latency("stored") or 0))
        elif kind == "order.expired":
            self.metrics.offers_expired += 1
        elif kind == "alert.escalated":
            self.metrics.escalations += 1

    def on_app(self, what: str, offer: dict[str, Any]) -> None:
        journey = self._journey(offer["alert"])
        if journey is None:
            return
        stage = {"offered": "pushed", "accepted": "accepted", "arrived": "arrived"}[what]
        if journey.deadline_s is None:
            alert = offer["alert"]
            journey.deadline_s = (
                datetime.fromisoformat(alert["deadline_at"])
                - datetime.fromisoformat(alert["raised_at"])
            ).total_seconds()
        if getattr(journey, f"{stage}_at") is None:
            setattr(journey, f"{stage}_at", self.now())
            self.metrics.samples.append((self.now(), stage, journey.latency(stage) or 0))


async def _login(api: str, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        response = await http.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        response.raise_for_status()
        token: str = response.json()["token"]
        return token


async def _login_caregiver(api: str, username: str) -> tuple[str, str]:
    """(caregiver id, token) of a demo caregiver account."""
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        response = await http.post(
            "/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}
        )
        body = response.raise_for_status().json()
        return body["user"]["caregiver_id"], body["token"]


async def _board(stack: Stack, token: str, on_message: Callable[[dict[str, Any]], None]) -> None:
    last_seq: str | None = None
    while True:
        url = f"{stack.ws}/ws/v1/board" + (f"?last_seq={last_seq}" if last_seq else "")
        try:
            async with websockets.connect(
                url, compression=None, max_size=None, subprotocols=socket_login(token)
            ) as ws:
                async for raw in ws:
                    message = json.loads(raw)
                    last_seq = message.get("seq", last_seq)
                    on_message(message)
        except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus):
            await asyncio.sleep(0.5)


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    id: str
    kind: str
    home: tuple[float, float] | None  # where its elder lives


async def _pages(http: httpx.AsyncClient, path: str, limit: int, **params: Any) -> list[Any]:
    rows: list[Any] = []
    while len(rows) < limit:
        page = await http.get(path, params={**params, "limit": 1000, "offset": len(rows)})
        batch = page.raise_for_status().json()
        rows += batch
        if len(batch) < 1000:
            break
    return rows[:limit]


async def _registry(api: str, token: str, limit: int) -> list[RegisteredDevice]:
    async with httpx.AsyncClient(
        base_url=api, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        devices = await _pages(http, "/api/v1/devices", limit, active=True)
        elders = await _pages(http, "/api/v1/elders", 10**6)
    homes = {e["id"]: (e["lat"], e["lon"]) for e in elders}
    return [RegisteredDevice(d["id"], d["kind"], homes.get(d["elder_id"])) for d in devices]


async def _caregivers(api: str, token: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(
        base_url=api, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        rows: list[dict[str, Any]] = (
            (await http.get("/api/v1/caregivers", params={"limit": 1000})).raise_for_status().json()
        )
        return rows


async def _count_alerts(api: str, token: str, since: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    offset = 0
    async with httpx.AsyncClient(
        base_url=api, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        while True:
            rows = (
                (
                    await http.get(
                        "/api/v1/alerts",
                        params={
                            "since": since.isoformat(),
                            "limit": 1000,
                            "offset": offset,
                        },
                    )
                )
                .raise_for_status()
                .json()
            )
            for alert in rows:
                # Only the calls the fleet made: not backups, not "device offline".
                if alert["alert_type"] in HELP_ALERTS:
                    counts[alert["device_id"]] = counts.get(alert["device_id"], 0) + 1
            offset += len(rows)
            if len(rows) < 1000:
                return counts


async def _break(
    stack: Stack, kind: FaultKind, share: float, apps: list[asyncio.Task[None]], rng: random.Random
) -> None:
    if kind is FaultKind.CAREGIVERS_OFFLINE:
        for task in rng.sample(apps, int(len(apps) * share)):
            task.cancel()
        return
    if kind is FaultKind.BROKER_RESTART and stack.broker is not None:
        await asyncio.to_thread(stack.broker.restart)
        return
    if kind is FaultKind.SERVER_RESTART and stack.server is not None:
        stack.server.send_signal(signal.SIGKILL)
        stack.server.wait()
        await asyncio.to_thread(stack.start_server)
        return
    log.warning("fault %s skipped: this run did not start the stack", kind)


@dataclass
class RunResult:
    scenario: Scenario
    metrics: RunMetrics
    baseline_ms: list[float]
    lost: int
    duplicated: int
    server_cpu: list[float]
    server_rss_mb: list[float]
    devices: int


async def run(scenario: Scenario, stack: Stack, *, username: str, password: str) -> RunResult:
    rng = random.Random(scenario.seed)
    metrics = RunMetrics()
    asyncio.get_running_loop().set_exception_handler(_quiet_disconnects)
    baseline = await asyncio.to_thread(broker_round_trips, stack.mqtt_url, 100)
    token = await _login(stack.api, username, password)
    registry = await _registry(stack.api, token, scenario.devices)
    broker = BrokerAddress.parse(stack.mqtt_url)
    fleet = [
        SimDevice(
            d.id,
            d.kind,
            broker,
            stack.mqtt_protocol,
            scenario.heartbeat_every_s,
            random.Random(f"{scenario.seed}/{d.id}"),
            home=d.home,
            position_every_s=scenario.telemetry.position_every_s,
        )
        for d in registry
    ]
    started = time.monotonic()
    observer = Observer(metrics, started)
    since = datetime.now(UTC)

    behaviour = scenario.caregivers
    app_behaviour = AppBehaviour(
        accept_delay_s=behaviour.accept_delay_s,
        decline_share=behaviour.decline_share,
        ignore_share=behaviour.ignore_share,
        time_scale=behaviour.time_scale,
    )
    apps: list[asyncio.Task[None]] = []
    homes = {c["id"]: c for c in await _caregivers(stack.api, token)}
    for i in range(1, len(homes) + 1):
        caregiver_id, cg_token = await _login_caregiver(stack.api, caregiver_username(i))
        if caregiver_id not in homes:
            continue  # no demo account for this caregiver
        c = homes[caregiver_id]
        profile = CaregiverProfile(
            caregiver_id, c["home_lat"], c["home_lon"], TransportMode(c["transport"])
        )
        sim = CaregiverAppSim(
            stack.ws, profile, app_behaviour, random.Random(caregiver_id), cg_token, observer.on_app
        )
        apps.append(asyncio.create_task(sim.run(), name=f"app {caregiver_id}"))
    board = asyncio.create_task(_board(stack, token, observer.on_board), name="board")
    slots = asyncio.Semaphore(CONNECTS_AT_ONCE)
    devices = [asyncio.create_task(d.run(slots), name=d.device_id) for d in fleet]
    await _warm_up(fleet)
    # The run's clock starts once the fleet is connected and the server has taken
    # its "online" messages: a connect storm is a different test.
    observer.started = time.monotonic()
    server_cpu: list[float] = []
    server_rss: list[float] = []
    process = psutil.Process(stack.server.pid) if stack.server else None

    def press(device: SimDevice) -> None:
        metrics.journeys[device.device_id] = Journey(device.device_id, observer.now())
        event = device.help_event()
        device.queue.put_nowait(Send(event))
        if rng.random() < scenario.false_alarm_share:
            loop.call_later(3.0, device.queue.put_nowait, Send("cancel"))
        elif rng.random() < scenario.repeat_press_share:
            # Pressed again while help is on its way: it must merge, not count twice.
            loop.call_later(1.5, device.queue.put_nowait, Send(event))

    loop = asyncio.get_running_loop()
    faults = sorted(scenario.faults, key=lambda f: f.at_s)
    idle = [d for d in fleet]
    rng.shuffle(idle)
    # Devices that go silent or run low are drawn from the end, help calls from
    # the front, so a silent device is never the one asked to press.
    routine = _plan_routine(scenario, idle, rng)
    calls = call_times(scenario, rng)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        transient=False,
    ) as progress:
        bar = progress.add_task(scenario.name, total=scenario.duration_s, status="")
        next_help = next(calls, math.inf)
        while (elapsed := observer.now()) < scenario.duration_s:
            while faults and faults[0].at_s <= elapsed:
                fault = faults.pop(0)
                log.info("fault at %.0f s: %s", elapsed, fault.kind)
                await _break(stack, fault.kind, fault.share, apps, rng)
            while next_help <= elapsed and idle:
                press(idle.pop(0))
                next_help = next(calls, math.inf)
            while routine and routine[0][0] <= elapsed:
                _, what, device = routine.pop(0)
                if what == "silent":
                    device.silent = True
                else:
                    device.queue.put_nowait(Send("lowBattery", extra={"battery": 8}))
            if process is not None:
                try:
                    server_cpu.append(process.cpu_percent())
                    server_rss.append(process.memory_info().rss / 2**20)
                except psutil.NoSuchProcess:  # restarted on purpose
                    process = psutil.Process(stack.server.pid) if stack.server else None
            pushed = metrics.latencies("pushed")
            p95 = percentile(pushed, 0.95)
            still_open = sum(j.arrived_at is None for j in metrics.journeys.values())
            in_flight = sum(
                j.accepted_at is not None and j.arrived_at is None
                for j in metrics.journeys.values()
            )
            metrics.open_calls.append((elapsed, still_open))
            progress.update(
                bar,
                completed=elapsed,
                status=(
                    f"connected {sum(d.connected.is_set() for d in fleet)}/{len(fleet)} · "
                    f"sent {sum(d.sent for d in fleet)} · helped {len(metrics.journeys)} · "
                    f"open {still_open} · on the way {in_flight} · "
                    f"push p95 {'-' if p95 is None else f'{p95 * 1000:.0f} ms'}"
                ),
            )
            await asyncio.sleep(0.25)
        # Let the last calls reach their caregivers before counting.
        grace_end = time.monotonic() + 30
        while time.monotonic() < grace_end and any(  # noqa: ASYNC110 (bounded wait)
            j.pushed_at is None for j in metrics.journeys.values()
        ):
            await asyncio.sleep(0.5)
    for d in fleet:
        metrics.sent_by_type.update(d.sent_by_type)
    metrics.events_sent = metrics.sent_by_type.total()
    metrics.silenced = sum(d.silent for d in fleet)
    await stop_tasks([*devices, *apps, board], retry_s=2.0)
    _log_failures(devices)
    counts = await _count_alerts(stack.api, token, since)
    pressed = metrics.journeys.keys()
    return RunResult(
        scenario=scenario,
        metrics=metrics,
        baseline_ms=baseline,
        lost=sum(1 for d in pressed if counts.get(d, 0) == 0),
        duplicated=sum(max(0, counts.get(d, 0) - 1) for d in pressed),
        server_cpu=server_cpu,
        server_rss_mb=server_rss,
        devices=len(fleet),
    )


def _log_failures(devices: list[asyncio.Task[None]]) -> None:
    """A device whose loop died stopped talking to the broker: say so and why."""
    failed = [t for t in devices if not t.cancelled() and t.exception() is not None]
    if failed:
        log.warning(
            "%d devices stopped on an error, e.g. %s: %r",
            len(failed),
            failed[0].get_name(),
            failed[0].exception(),
        )


def _plan_routine(
    scenario: Scenario, idle: list[SimDevice], rng: random.Random
) -> list[tuple[float, str, SimDevice]]:
    """(when, what, device): batteries running low and devices going silent."""
    telemetry = scenario.telemetry
    n_low = round(len(idle) * telemetry.low_battery_share)
    n_silent = round(len(idle) * telemetry.silent_share)
    plan: list[tuple[float, str, SimDevice]] = []
    for what, count in (("silent", n_silent), ("lowBattery", n_low)):
        for _ in range(min(count, len(idle))):
            plan.append((rng.uniform(0, scenario.duration_s * 0.8), what, idle.pop()))
    return sorted(plan, key=lambda p: p[0])


async def _warm_up(fleet: list[SimDevice], timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(d.connected.is_set() for d in fleet) >= 0.99 * len(fleet):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(5.0)


def _quiet_disconnects(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A broker restart leaves aiomqtt's disconnection futures unretrieved; the
    # devices already reconnected, so these are expected, not errors.
    if isinstance(context.get("exception"), aiomqtt.MqttError):
        log.debug("device disconnected: %s", context["exception"])
        return
    loop.default_exception_handler(context)


def workdir_for(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"carebell-{name}-"))
