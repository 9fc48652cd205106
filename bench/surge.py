"""City-scale surge: thousands of presses within a minute, on a private stack.

A heat wave or a power cut: every device in the run presses once, at a random
moment within ``--window-s``; each device is its own MQTT connection (raw MQTT
3.1.1 on asyncio streams, as bench/fleet20k.py does). Caregiver apps answer over
WebSockets: they accept an offer at once, and are free again ``--busy-s`` later.
A board socket sees each alert raised and decided; probes ask ``/healthz`` and
the alert list every 200 ms throughout.

Reported beside the bare broker round trip of the same run:

  stored/s             alerts raised per second, first press to last alert seen
  press -> decision    the first offer or escalation (with its reason), p50/p95/p99
  press -> offer       on a caregiver's socket, p50/p95/p99
  offered by deadline  share of alerts with an offer before their deadline
  lost / duplicated    presses with no alert / with more than one
  server               CPU (of one core, with its helper processes) and memory
  worst stall          the server's event loop, beside an idle process's
  board, API           the probes' p99 and worst answer times

    .venv/bin/python bench/surge.py --devices 2000 --caregivers 300
    .venv/bin/python bench/surge.py --postgres-url postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import httpx
import psutil
import psycopg
import websockets
from sqlalchemy import func
from sqlmodel import col, select

from devices.mqtt import BrokerAddress
from devices.protocol import event_payload, events_topic
from dispatch.domain.access import Role
from dispatch.registry import accounts
from dispatch.store.db import Database
from dispatch.store.tables import Alert, SessionToken, UserAccount
from simulators import local_services
from simulators.baseline import broker_round_trips
from simulators.city import generate_city, seed_city
from simulators.loadrun import Stack
from simulators.socket_login import socket_login

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet20k import _connect, _publish
from stall_floor import StallFloor, server_worst_stall_s

PRESSABLE = ("panic_button", "door_bell")
PRESS_ALERTS = ("help_button", "door_bell")  # what a press on each raises


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Seen:
    pressed: dict[str, float] = field(default_factory=dict)  # device -> perf_counter
    acked: dict[str, float] = field(default_factory=dict)  # device -> broker's PUBACK
    alert_of: dict[str, str] = field(default_factory=dict)  # alert id -> device
    stored: dict[str, float] = field(default_factory=dict)  # device -> alert.raised seen
    decided: dict[str, tuple[float, str]] = field(default_factory=dict)  # device -> (t, how)
    offered: dict[str, float] = field(default_factory=dict)  # device -> offer on a socket
    deadline_met: dict[str, bool] = field(default_factory=dict)
    probes: dict[str, list[float]] = field(default_factory=lambda: {"board": [], "api": []})


def database_url(args: argparse.Namespace, workdir: Path) -> str:
    if not args.postgres_url:
        return f"sqlite:///{workdir}/carebell.db"
    name = f"carebell_surge_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = args.postgres_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def seed(db_url: str, devices: int, caregivers: int) -> tuple[list[str], dict[str, str], str]:
    """The city, and bearer tokens written straight to the store: the run measures
    the surge, not 300 password hashes (log-in has its own figures)."""
    db = Database(db_url)
    db.create_schema()
    city = generate_city(seed=2026, n_elders=math.ceil(devices * 1.1), n_caregivers=caregivers)
    for caregiver in city.caregivers:  # on shift whatever the hour
        caregiver.shift_start, caregiver.shift_end = clock(0, 0), clock(23, 59, 59)
    with db.session() as session:
        seed_city(session, city)
    stand_in = accounts._hasher.hash(uuid.uuid4().hex)  # no one logs in with it
    tokens: dict[str, str] = {}
    expires = datetime.now(UTC) + timedelta(hours=2)
    with db.session() as session:
        for i, caregiver in enumerate(city.caregivers):
            user = UserAccount(
                username=f"surge-cg{i}",
                password_hash=stand_in,
                role=Role.CAREGIVER.value,
                caregiver_id=caregiver.id,
            )
            token = uuid.uuid4().hex
            session.add(user)
            session.flush()
            session.add(SessionToken(token_hash=accounts._digest(token), user_id=user.id,
                                     expires_at=expires))  # fmt: skip
            tokens[str(caregiver.id)] = token
        supervisor = UserAccount(
            username="surge-sup", password_hash=stand_in, role=Role.SUPERVISOR.value
        )
        session.add(supervisor)
        session.flush()
        board_token = uuid.uuid4().hex
        session.add(SessionToken(token_hash=accounts._digest(board_token), user_id=supervisor.id,
                                 expires_at=expires))  # fmt: skip
    db.dispose()
    pressing = [d.id for d in city.devices if d.kind in PRESSABLE][:devices]
    if len(pressing) < devices:
        raise RuntimeError(f"the city has only {len(pressing)} buttons")
    return pressing, tokens, board_token


async def caregiver_app(ws: str, cid: str, token: str, busy_s: float, seen: Seen) -> None:
    rng = random.Random(cid)
    async with websockets.connect(
        f"{ws}/ws/v1/caregivers/{cid}",
        compression=None,
        max_queue=None,
        subprotocols=socket_login(token),
    ) as socket:
        lat, lon = 30.2741 + rng.uniform(-0.05, 0.05), 120.1551 + rng.uniform(-0.05, 0.05)
        await socket.send(json.dumps({"type": "position", "lat": lat, "lon": lon}))

        async def finish(order_id: str) -> None:
            await asyncio.sleep(busy_s)
            for action in ("arrive", "complete"):
                step = {"type": "action", "action": action, "order_id": order_id}
                await socket.send(json.dumps({**step, "code": "needed_help"}))

        async with asyncio.TaskGroup() as group:
            async for raw in socket:
                message = json.loads(raw)
                if message.get("type") != "order.offered":
                    continue
                device = message["alert"].get("device_id")
                if device and device not in seen.offered:
                    seen.offered[device] = time.perf_counter()
                order_id = message["order"]["id"]
                await socket.send(
                    json.dumps({"type": "action", "action": "accept", "order_id": order_id})
                )
                group.create_task(finish(order_id))


async def board(ws: str, token: str, seen: Seen) -> None:
    async with websockets.connect(
        f"{ws}/ws/v1/board", compression=None, max_queue=None, subprotocols=socket_login(token)
    ) as socket:
        async for raw in socket:
            message = json.loads(raw)
            kind, alert = message.get("type"), message.get("alert") or {}
            now = time.perf_counter()
            device = alert.get("device_id")
            if kind == "alert.raised" and device:
                seen.alert_of[alert["id"]] = device
                seen.stored.setdefault(device, now)
            elif kind in ("alert.offered", "alert.escalated") and device:
                if device not in seen.decided:
                    seen.decided[device] = (now, kind.removeprefix("alert."))
                if kind == "alert.offered" and device not in seen.deadline_met:
                    at = datetime.fromisoformat(message["at"])
                    seen.deadline_met[device] = at <= datetime.fromisoformat(alert["deadline_at"])


async def probe(api: str, token: str, seen: Seen, stop: asyncio.Event) -> None:
    """The board's and the API's answer times, every 200 ms."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        while not stop.is_set():
            for name, path in (("board", "/api/v1/alerts?sort=urgency&limit=50"),
                               ("api", "/healthz")):  # fmt: skip
                started = time.perf_counter()
                answer = await http.get(path, headers=headers)
                answer.raise_for_status()
                seen.probes[name].append((time.perf_counter() - started) * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)


async def button(
    broker: BrokerAddress, device: str, at_s: float, start: float, seen: Seen,
    slots: asyncio.Semaphore, ready: list[int],
) -> None:  # fmt: skip
    """One device: connect, press once at its moment, wait for the PUBACK."""
    async with slots:
        reader, writer = await asyncio.open_connection(broker.host, broker.port)
        writer.write(_connect(f"dev-{device}", 600))
        if (await reader.readexactly(4))[3] != 0:
            raise ConnectionError(f"{device}: refused")
    ready.append(1)
    try:
        await asyncio.sleep(max(0.0, start + at_s - time.perf_counter()))
        payload = event_payload(uuid.uuid4().hex, "press", datetime.now(UTC))
        seen.pressed[device] = time.perf_counter()
        writer.write(_publish(events_topic(device), payload, 1))
        await writer.drain()
        while True:  # PUBACK (0x40) for packet 1; anything else is not ours
            head = await reader.readexactly(2)
            body = await reader.readexactly(head[1])
            if head[0] == 0x40 and body[:2] == b"\x00\x01":
                seen.acked[device] = time.perf_counter()
                break
        await asyncio.sleep(3600)  # stay connected: a dropped device says "offline"
    finally:
        writer.close()


def usage(process: psutil.Process) -> tuple[float, float]:
    """CPU seconds and resident MB of a process and its children."""
    cpu = rss = 0.0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            cpu += t.user + t.system
            rss += p.memory_info().rss / 2**20
    return cpu, rss


async def surge(args: argparse.Namespace, stack: Stack, devices: list[str],
                tokens: dict[str, str], board_token: str) -> dict[str, object]:  # fmt: skip
    seen = Seen()
    tasks = [asyncio.create_task(caregiver_app(stack.ws, c, t, args.busy_s, seen))
             for c, t in tokens.items()]  # fmt: skip
    tasks.append(asyncio.create_task(board(stack.ws, board_token, seen)))
    await asyncio.sleep(3)  # the apps have reported their positions
    broker = BrokerAddress.parse(stack.mqtt_url)
    rng = random.Random(args.seed)
    slots, ready = asyncio.Semaphore(200), []
    start = time.perf_counter() + 30  # connect everyone first: a connect storm is another test
    buttons = [
        asyncio.create_task(
            button(broker, d, rng.uniform(0, args.window_s), start, seen, slots, ready)
        )
        for d in devices
    ]
    while len(ready) < len(devices) and time.perf_counter() < start:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    if len(ready) < len(devices):
        raise RuntimeError(f"only {len(ready)} of {len(devices)} devices connected in 30 s")
    stop = asyncio.Event()
    probing = asyncio.create_task(probe(stack.api, board_token, seen, stop))
    assert stack.server is not None
    server = psutil.Process(stack.server.pid)
    cpu0, _ = usage(server)
    rss_peak = 0.0
    deadline = start + args.window_s + args.grace_s
    while time.perf_counter() < deadline:
        _, rss = usage(server)
        rss_peak = max(rss_peak, rss)
        # Escalated alerts are offered again as caregivers come free: wait for every
        # offer (or the grace), so the share offered by the deadline means something.
        if time.perf_counter() > start + args.window_s and len(seen.offered) >= len(devices):
            break
        await asyncio.sleep(1)
    took_s = time.perf_counter() - start
    cpu1, _ = usage(server)
    stop.set()
    await probing
    for task in [*buttons, *tasks]:
        task.cancel()
    await asyncio.gather(*buttons, *tasks, return_exceptions=True)
    return {"seen": seen, "cpu_share": (cpu1 - cpu0) / took_s, "rss_peak_mb": rss_peak}


def count_alerts(db_url: str, devices: list[str], since: datetime) -> Counter[str]:
    db = Database(db_url)
    try:
        with db.read() as session:
            rows = session.exec(
                select(Alert.device_id, func.count())
                .where(
                    col(Alert.device_id).in_(devices),
                    col(Alert.alert_type).in_(PRESS_ALERTS),
                    Alert.raised_at >= since,
                )
                .group_by(col(Alert.device_id))
            ).all()
    finally:
        db.dispose()
    return Counter({str(d): int(n) for d, n in rows})


def drain(db_url: str, devices: list[str], since: datetime, limit_s: float) -> float:
    """Let the gateway store what the broker still holds for it (acknowledged only
    after commit, so nothing is lost meanwhile): wait until every press has its
    alert, or the count stops growing for 30 s. Returns the seconds waited."""
    started = last_change = time.monotonic()
    stored = -1
    while time.monotonic() - started < limit_s:
        now_stored = sum(1 for n in count_alerts(db_url, devices, since).values() if n)
        if now_stored >= len(devices):
            break
        if now_stored != stored:
            stored, last_change = now_stored, time.monotonic()
        elif time.monotonic() - last_change > 30:
            break
        time.sleep(2)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--caregivers", type=int, default=300)
    parser.add_argument("--window-s", type=float, default=60.0, help="every press within this")
    parser.add_argument(
        "--busy-s", type=float, default=20.0, help="a caregiver's job, offered to done"
    )
    parser.add_argument("--grace-s", type=float, default=60.0, help="after the window, to decide")
    parser.add_argument(
        "--drain-s", type=float, default=300.0, help="at most, for the backlog to be stored"
    )
    parser.add_argument("--postgres-url", help="an admin URL: the run creates its own database")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    # Every device is a connection, to the broker too (which inherits the limit).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    workdir = Path(tempfile.mkdtemp(prefix="carebell-surge-"))
    db_url = database_url(args, workdir)
    devices, tokens, board_token = seed(db_url, args.devices, args.caregivers)
    broker = local_services.mosquitto(workdir / "mqtt").start()
    redis = local_services.redis(workdir / "redis").start()
    stack = Stack(
        api="", mqtt_url=broker.url, broker=broker, redis=redis, workdir=workdir, city=None,
        server_env={**os.environ, "CAREBELL_DATABASE_URL": db_url,
                    "CAREBELL_MQTT_URL": broker.url, "CAREBELL_REDIS_URL": redis.url},
    )  # fmt: skip
    port = local_services.free_port()
    stack.api = f"http://127.0.0.1:{port}"
    stack.server_env["CAREBELL_HTTP_PORT"] = str(port)
    since = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    try:
        with StallFloor() as floor:
            stack.start_server()
            baseline = broker_round_trips(stack.mqtt_url, 200)
            result = asyncio.run(surge(args, stack, devices, tokens, board_token))
            stall_ms = server_worst_stall_s(stack.api) * 1000
            drained_s = drain(db_url, devices, since, args.drain_s)
    finally:
        stack.stop()
    counts = count_alerts(db_url, devices, since)
    seen: Seen = result["seen"]  # type: ignore[assignment]
    p = seen.pressed
    stored_times = sorted(seen.stored.values())
    stored_rate = (
        len(stored_times) / (stored_times[-1] - min(p.values())) if stored_times else math.nan
    )
    decision = [seen.decided[d][0] - p[d] for d in seen.decided if d in p]
    offers = [seen.offered[d] - p[d] for d in seen.offered if d in p]
    how = Counter(h for _, h in seen.decided.values())
    lost = sum(1 for d in devices if counts.get(d, 0) == 0)
    duplicated = sum(max(0, counts.get(d, 0) - 1) for d in devices)
    met = sum(seen.deadline_met.values())
    backend = "PostgreSQL" if args.postgres_url else "SQLite"
    ms = [x * 1000 for x in decision]
    om = [x * 1000 for x in offers]
    load_after = os.getloadavg()[0]
    print(
        f"\nCareBell surge on {backend}: {len(devices)} devices pressing within "
        f"{args.window_s:.0f} s, {len(tokens)} caregiver apps (busy {args.busy_s:.0f} s "
        f"a job); load {load_before:.1f} -> {load_after:.1f}, {os.cpu_count()} cores"
    )
    print()
    print("| measure | figure |\n|---|---|")
    print(f"| bare MQTT QoS 1 round trip (same broker, same run), p50 / p99 | "
          f"{pct(baseline, 0.5):.2f} / {pct(baseline, 0.99):.2f} ms |")  # fmt: skip
    print(f"| presses acknowledged by the broker | {len(seen.acked)} / {len(devices)} |")
    print(f"| alerts stored / s (first press to last alert seen) | {stored_rate:,.0f} |")
    print(f"| decided (offered / escalated with a reason) | {len(decision)} / {len(devices)} "
          f"({how['offered']} offered, {how['escalated']} escalated first) |")  # fmt: skip
    print(f"| press -> decision p50 / p95 / p99 | {pct(ms, 0.5):,.0f} / {pct(ms, 0.95):,.0f} / "
          f"{pct(ms, 0.99):,.0f} ms |")  # fmt: skip
    print(f"| press -> offer on a socket p50 / p95 / p99 ({len(om)} offers) | "
          f"{pct(om, 0.5):,.0f} / {pct(om, 0.95):,.0f} / {pct(om, 0.99):,.0f} ms |")  # fmt: skip
    print(f"| first offer before the alert's deadline | {met} / {len(devices)} "
          f"({100 * met / len(devices):.1f}%) |")  # fmt: skip
    print(f"| lost (no alert once the backlog was stored, {drained_s:.0f} s) / duplicated | "
          f"{lost} / {duplicated} |")  # fmt: skip
    print(f"| server CPU (cores, with helpers) / peak memory | {result['cpu_share']:.2f} / "
          f"{result['rss_peak_mb']:.0f} MB |")  # fmt: skip
    print(f"| worst event-loop stall: server / idle process beside it | {stall_ms:.0f} / "
          f"{floor.worst_s * 1000:.0f} ms |")  # fmt: skip
    for name, values in seen.probes.items():
        label = "board's alert list" if name == "board" else "API /healthz"
        print(f"| {label} during the surge: p50 / p99 / worst ({len(values)} asks) | "
              f"{pct(values, 0.5):.0f} / {pct(values, 0.99):.0f} / "
              f"{max(values, default=math.nan):.0f} ms |")  # fmt: skip
    if args.postgres_url:
        name = db_url.rsplit("/", 1)[1]
        with psycopg.connect(args.postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
