"""Gateway throughput: messages per second from the broker to a committed row,
beside the same run's ceiling, a bare paho-mqtt subscriber on the same broker.

Each measurement drains a backlog: the messages are published while the
consumer is away (its persistent session keeps them), then the consumer
connects and the clock runs until the last one is handled. So the figure is
what the consumer takes from the broker, not what one publisher can send.

  ceiling      a bare paho subscriber (QoS 1, acknowledging each message)
  telemetry    heartbeats: a device-state update each
  alerts       presses from distinct devices: a new alert and its audit record each

The gateway is measured as it ships (one MQTT connection, parsing and commits in
a helper process: two OS processes) and with CAREBELL_GATEWAY_INGEST_PROCESS off
(everything in one process).

    .venv/bin/python bench/gateway.py --telemetry 20000 --alerts 5000
    .venv/bin/python bench/gateway.py --database-url postgresql://postgres@127.0.0.1/empty
    .venv/bin/python bench/gateway.py --replicas 2    # also two gateway processes sharing
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, update
from sqlmodel import select

from config.settings import Settings
from devices.mqtt import BrokerAddress
from devices.protocol import EVENTS_FILTER, event_payload, events_topic
from dispatch.domain.lifecycle import AlertState
from dispatch.runtime import metrics
from dispatch.runtime.composition import running_services
from dispatch.store.db import Database
from dispatch.store.tables import Alert, DeadLetter, Device, DeviceEvent
from simulators import local_services

HOME = {"lat": 30.27, "lon": 120.15}  # the devices have no elder: the press says where
STALLED_S = 30.0  # a run with no new row for this long is over (what is missing is said)
STARTING_S = 180.0  # the same before the first row


def publish_backlog(url: str, messages: list[tuple[str, bytes]], publishers: int = 4) -> None:
    """Publish at QoS 1 from several clients and wait for every PUBACK."""
    address = BrokerAddress.parse(url)

    def send(chunk: list[tuple[str, bytes]]) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(1000)
        client.connect(address.host, address.port)
        client.loop_start()
        infos = [client.publish(topic, payload, qos=1) for topic, payload in chunk]
        for info in infos:
            info.wait_for_publish(60)
        client.disconnect()
        client.loop_stop()

    chunks = [messages[i::publishers] for i in range(publishers)]
    threads = [threading.Thread(target=send, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def bare_ceiling(url: str, messages: list[tuple[str, bytes]]) -> float:
    """Messages per second a bare subscriber drains from its persistent session."""
    address = BrokerAddress.parse(url)
    client_id = f"bare-{uuid.uuid4().hex[:6]}"
    done = threading.Event()
    received = 0
    started = 0.0

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal received, started
        if received == 0:
            started = time.perf_counter()
        received += 1
        if received == len(messages):
            done.set()

    def session() -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.on_message = on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        client.connect(address.host, address.port, clean_start=False, properties=props)
        return client

    first = session()
    first.loop_start()
    first.subscribe(EVENTS_FILTER, qos=1)
    time.sleep(0.5)
    first.disconnect()
    first.loop_stop()
    publish_backlog(url, messages)
    again = session()
    clock = time.perf_counter()
    again.loop_start()
    done.wait(300)
    elapsed = time.perf_counter() - clock
    again.disconnect()
    again.loop_stop()
    end_session(url, client_id)  # or it would keep a copy of every later run's messages
    return len(messages) / elapsed


@dataclass(frozen=True)
class Drained:
    rate: float  # messages per second, first connect to last row committed
    server_cpu_us: float  # per message: the gateway's process (paho, the loop, voice, relay)
    helper_cpu_us: float  # per message: its child processes (the ingest helper)
    missing: int = 0  # messages that left no row (the run stopped waiting for them)
    # From the first committed row to the last: what the processes take once
    # running (their start-up left out), and the CPU per message meanwhile.
    steady: float = 0.0
    steady_server_cpu_us: float = 0.0
    steady_helper_cpu_us: float = 0.0


def _cpu_by_process(me: psutil.Process, servers: set[int]) -> dict[int, float]:
    """CPU seconds so far of the gateway processes and everything below them."""
    found = children_cpu_s(me)
    if me.pid in servers:
        found[me.pid] = cpu_s(me)
    return found


def _cpu_spent(
    before: dict[int, float], after: dict[int, float], servers: set[int]
) -> tuple[float, float]:
    """CPU seconds spent between two readings: (gateway processes, their helpers)."""
    spent = {pid: t - before.get(pid, 0.0) for pid, t in after.items()}
    return (
        sum(t for pid, t in spent.items() if pid in servers),
        sum(t for pid, t in spent.items() if pid not in servers),
    )


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def children_cpu_s(process: psutil.Process) -> dict[int, float]:
    found = {}
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # ended meanwhile
            found[child.pid] = cpu_s(child)
    return found


def _accounted(db: Database) -> int:
    """Messages that left a row: events stored and messages dead-lettered (a
    refused message stores no event, so counting events alone would wait forever)."""
    with db.session() as session:
        events = session.exec(select(func.count()).select_from(DeviceEvent)).one()
        letters = session.exec(select(func.count()).select_from(DeadLetter)).one()
        return int(events) + int(letters)


def _replica(settings: Settings, i: int) -> Settings:
    """The i-th of several gateway processes: its own client id (its own persistent
    session), the same share group, so the broker splits the messages between them."""
    return settings.model_copy(
        update={"replica": i, "mqtt_client_id": f"{settings.gateway_client_id}-{i}"}
    )


def _serve(settings: Settings, ready: Any, stop: Any) -> None:
    """A gateway process of its own until ``stop`` is set (in a child process);
    ``ready`` once imported, where the one-process run starts its clock."""

    async def serve() -> None:
        ready.set()
        async with running_services(settings):
            while not stop.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    asyncio.run(serve())


def gateway_rate(
    settings: Settings, messages: list[tuple[str, bytes]], replicas: int = 1
) -> Drained:
    """Messages per second the gateway drains into committed rows, and the CPU
    each message cost: the machine is shared, and CPU time swings less with its
    load than the wall clock does. With several replicas, each is a process of its
    own on the shared subscription.

    Done when every message left a row (an event or a dead letter), or when
    nothing has moved for STALLED_S: the run then says how many are missing."""
    db = Database(settings.database_url)
    before = _accounted(db)
    group = [settings] if replicas == 1 else [_replica(settings, i) for i in range(replicas)]

    async def connect_once(one: Settings) -> None:
        async with running_services(one):
            await asyncio.sleep(0.5)  # subscribed: the persistent session exists

    async def wait_drained(clock: float, servers: set[int], start: dict[int, float]) -> Drained:
        """Poll until drained; the steady figures count from the first row on (a
        process's start-up, which several fresh processes pay each, left out)."""
        me = psutil.Process()
        last, moved = before, time.perf_counter()
        first: tuple[float, int, dict[int, float]] | None = None
        while True:
            now = await asyncio.to_thread(_accounted, db)
            done = now >= before + len(messages)
            if now != last:
                last, moved = now, time.perf_counter()
                if first is None:
                    first = (moved, now, _cpu_by_process(me, servers))
            # Before the first row, the processes may still be starting (slow on a
            # loaded machine): they get STARTING_S.
            stalled = time.perf_counter() - moved > (STALLED_S if now > before else STARTING_S)
            if done or stalled:
                end, cpu = moved, _cpu_by_process(me, servers)
                break
            await asyncio.sleep(0.05)
        n, stored = len(messages), last - before
        server_s, helper_s = _cpu_spent(start, cpu, servers)
        steady = 0.0
        steady_server_s = steady_helper_s = 0.0
        if first is not None and end > first[0]:
            steady = (last - first[1]) / (end - first[0])
            steady_server_s, steady_helper_s = _cpu_spent(first[2], cpu, servers)
        steady_n = max(1, last - (first[1] if first else last))
        return Drained(
            stored / (end - clock),
            server_s / n * 1e6,
            helper_s / n * 1e6,
            n - stored,
            steady,
            steady_server_s / steady_n * 1e6,
            steady_helper_s / steady_n * 1e6,
        )

    async def drain() -> Drained:
        me = psutil.Process()
        clock = time.perf_counter()
        if replicas == 1:
            start = _cpu_by_process(me, {me.pid})
            async with running_services(settings):
                drained = await wait_drained(clock, {me.pid}, start)
        else:
            context = multiprocessing.get_context("spawn")
            stop = context.Event()
            ready = [context.Event() for _ in group]
            processes = [
                context.Process(target=_serve, args=(one, up, stop))
                for one, up in zip(group, ready, strict=True)
            ]
            for process in processes:
                process.start()
            for up in ready:  # a fresh interpreter's imports are not the gateway's work
                await asyncio.to_thread(up.wait, STARTING_S)
            servers = {p.pid or 0 for p in processes}
            start = _cpu_by_process(me, servers)
            drained = await wait_drained(time.perf_counter(), servers, start)
            stop.set()
            for process in processes:
                await asyncio.to_thread(process.join, 30)
        if drained.missing:
            print(f"  ! {drained.missing} of {len(messages)} messages left no row")
        return drained

    for one in group:
        asyncio.run(connect_once(one))
    publish_backlog(settings.mqtt_url, messages)
    drained = asyncio.run(drain())
    db.dispose()
    for one in group:  # an idle session left in the share group would take later runs' share
        end_session(settings.mqtt_url, one.gateway_client_id)
    return drained


def end_session(url: str, client_id: str) -> None:
    """Delete a client's persistent session (and its subscriptions) on the broker."""
    address = BrokerAddress.parse(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 0
    client.connect(address.host, address.port, clean_start=True, properties=props)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


def free_devices(database_url: str) -> None:
    """Close every alert, so each device can raise a new one in the next run."""
    db = Database(database_url)
    with db.session() as session:
        session.execute(update(Alert).values(state=AlertState.RESOLVED))
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--telemetry", type=int, default=20_000)
    parser.add_argument("--alerts", type=int, default=5_000)
    parser.add_argument(
        "--database-url",
        help="an empty database to store into (default: a new SQLite file)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="also measure this many gateway processes on the shared subscription",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="carebell-gw-bench-"))
    broker = local_services.mosquitto(work / "mosquitto").start()
    redis = local_services.redis(work / "redis").start()
    try:
        settings = Settings(
            database_url=args.database_url or f"sqlite:///{work / 'bench.db'}",
            mqtt_url=broker.url,
            redis_url=redis.url,
            roles={"gateway"},
            mqtt_client_id="bench-gateway",
        )
        db = Database(settings.database_url)
        db.create_schema()
        devices = max(args.alerts, 2_000)
        now = datetime.now(UTC)
        with db.session() as session:
            # Devices that have been heart-beating: online, as a pressing device is.
            session.add_all(
                Device(id=f"pb-{i:06d}", kind="panic_button", online=True, last_seen_at=now)
                for i in range(devices)
            )
        db.dispose()

        def events(n: int, type_: str, distinct: bool) -> list[tuple[str, bytes]]:
            return [
                (
                    events_topic(f"pb-{(i if distinct else i % 2_000):06d}"),
                    event_payload(
                        uuid.uuid4().hex, type_, now, position={"lat": 30.27, "lon": 120.15}
                    ),
                )
                for i in range(n)
            ]

        single = settings.model_copy(update={"gateway_ingest_process": False})
        telemetry = events(args.telemetry, "heartbeat", distinct=False)
        ceiling = bare_ceiling(broker.url, telemetry)
        rates = {
            "telemetry → device state committed": gateway_rate(settings, telemetry),
            "telemetry, one process": gateway_rate(
                single, events(args.telemetry, "heartbeat", distinct=False)
            ),
            # Each press needs a device with no open alert: a fresh set per run.
            "presses → new alerts committed": gateway_rate(
                settings, events(args.alerts, "press", distinct=True)
            ),
        }
        free_devices(settings.database_url)
        rates["presses, one process"] = gateway_rate(
            single, events(args.alerts, "press", distinct=True)
        )
        if args.replicas > 1:
            n = args.replicas
            rates[f"telemetry, {n} gateway processes"] = gateway_rate(
                settings, events(args.telemetry, "heartbeat", distinct=False), n
            )
            free_devices(settings.database_url)
            rates[f"presses, {n} gateway processes"] = gateway_rate(
                settings, events(args.alerts, "press", distinct=True), n
            )
    finally:
        broker.stop()
        redis.stop()
    print(f"\nLoad average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(
        f"\n{'what':<48} {'msg/s':>9} {'× ceiling':>10} {'CPU µs/msg: server':>19} "
        f"{'helper':>7} {'missing':>8} {'steady msg/s':>13} {'µs/msg: server':>15} {'helper':>7}"
    )
    print(f"{'bare paho subscriber (ceiling, same broker)':<48} {ceiling:>9,.0f} {1:>10.2f}")
    for what, d in rates.items():
        print(
            f"{'gateway: ' + what:<48} {d.rate:>9,.0f} {d.rate / ceiling:>10.2f} "
            f"{d.server_cpu_us:>19,.0f} {d.helper_cpu_us:>7,.0f} {d.missing:>8} "
            f"{d.steady:>13,.0f} {d.steady_server_cpu_us:>15,.0f} {d.steady_helper_cpu_us:>7,.0f}"
        )
    print(
        "(steady: from the first committed row to the last; a fresh process's start-up is left out)"
    )
    sizes = {m.name: m.value for m in metrics.BATCH_SIZE.collect()[0].samples}
    times = {m.name: m.value for m in metrics.BATCH_SECONDS.collect()[0].samples}
    batches = sizes["carebell_ingest_batch_messages_count"]
    print(
        f"\n{batches:.0f} batches of {sizes['carebell_ingest_batch_messages_sum'] / batches:.0f} "
        f"messages on average, "
        f"{times['carebell_ingest_commit_seconds_sum'] / batches * 1000:.1f} ms each to commit"
    )


if __name__ == "__main__":
    main()
