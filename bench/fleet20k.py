"""20,000 connected devices heart-beating into one gateway, as production would
run them: on a cluster of two Mosquitto brokers.

A process here may open at most 20,000 files (a hard limit, for the broker too),
so 20,000 device connections need two brokers. The second is bridged to the
first for ``carebell/v1/#`` (QoS 1, persistent bridge session); the gateway is a
client of the first. Two simulator processes each hold 10,000 devices, every one
its own MQTT connection (client id, last will, QoS 1), on one broker each. Heartbeats are
compressed (every 20 s by default instead of 5 min: 15x production), and so is
supervision: a device not heard from for two heartbeats is marked offline.

Once the fleet is connected, the run measures for a few minutes:

  lag          heartbeat sent (its ``ts``) -> committed by the gateway, p50/p99/max
  coverage     devices whose last_seen_at advanced during the window
  offline      devices held offline (should be none: no device stopped)

    .venv/bin/python bench/fleet20k.py --devices 20000 --heartbeat-s 20 --minutes 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import func
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from config.settings import Settings
from devices.mqtt import BrokerAddress
from devices.protocol import event_payload, events_topic, status_topic
from dispatch.runtime.composition import running_services
from dispatch.store.db import Database
from dispatch.store.tables import Device
from simulators import local_services

KIND = "panic_button"


def device_id(i: int) -> str:
    return f"pb-{i:06d}"


# -- a simulator process: its share of the fleet on one broker ------------------
#
# Each device is its own MQTT 3.1.1 connection (own client id, last will, QoS 1
# publishes), written on asyncio streams rather than with simulators/fleet.py:
# aiomqtt wakes every client once a second for paho's housekeeping, which for
# 10,000 clients per process took most of a core here and starved the connects.


def _packet(kind: int, body: bytes) -> bytes:
    size, length = len(body), bytearray()
    while True:
        size, digit = divmod(size, 128)
        length.append(digit | (0x80 if size else 0))
        if not size:
            return bytes([kind]) + bytes(length) + body


def _text(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return len(raw).to_bytes(2, "big") + raw


def _connect(client_id: str, keepalive_s: int) -> bytes:
    # Clean session, a retained QoS 1 will: the broker says "offline" for us.
    flags = 0x02 | 0x04 | 0x08 | 0x20
    header = _text("MQTT") + bytes([4, flags]) + keepalive_s.to_bytes(2, "big")
    device = client_id.removeprefix("dev-")
    will = _text(status_topic(device)) + _text(b'{"status":"offline"}')
    return _packet(0x10, header + _text(client_id) + will)


def _publish(topic: str, payload: bytes, packet_id: int, *, retain: bool = False) -> bytes:
    return _packet(0x32 | retain, _text(topic) + packet_id.to_bytes(2, "big") + payload)


class Tally:
    def __init__(self) -> None:
        self.connected = self.heartbeats = self.acked = self.dropped = 0


async def device(
    url: BrokerAddress, i: int, heartbeat_s: float, slots: asyncio.Semaphore, tally: Tally
) -> None:
    """Connect, say "online", heart-beat at QoS 1 until cancelled; reconnect if dropped."""
    rng = random.Random(i)
    name = device_id(i)
    while True:
        try:
            async with slots:
                reader, writer = await asyncio.open_connection(url.host, url.port)
                writer.write(_connect(f"dev-{name}", int(heartbeat_s * 3)))
                if (await reader.readexactly(4))[3] != 0:
                    raise ConnectionError("refused")
            tally.connected += 1
            writer.write(_publish(status_topic(name), b'{"status":"online"}', 1, retain=True))
            acks = asyncio.create_task(_count_acks(reader, tally))
            try:
                await asyncio.sleep(rng.uniform(0, heartbeat_s))
                packet_id = 1
                while True:
                    packet_id = packet_id % 65535 + 1
                    payload = event_payload(uuid.uuid4().hex, "heartbeat", datetime.now(UTC))
                    writer.write(_publish(events_topic(name), payload, packet_id))
                    tally.heartbeats += 1
                    await asyncio.sleep(heartbeat_s)
            finally:
                tally.connected -= 1
                acks.cancel()
                writer.close()
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            tally.dropped += 1
            await asyncio.sleep(rng.uniform(0.5, 2.0))


async def _count_acks(reader: asyncio.StreamReader, tally: Tally) -> None:
    while True:
        kind, size, shift = (await reader.readexactly(1))[0], 0, 0
        while True:
            digit = (await reader.readexactly(1))[0]
            size, shift = size | (digit & 0x7F) << shift, shift + 7
            if not digit & 0x80:
                break
        await reader.readexactly(size)
        tally.acked += kind >> 4 == 4  # PUBACK


async def simulate(
    url: str, first: int, count: int, heartbeat_s: float, connects_at_once: int
) -> None:
    """Run devices first..first+count on the broker at ``url`` until stdin closes."""
    broker = BrokerAddress.parse(url)
    slots = asyncio.Semaphore(connects_at_once)
    tally = Tally()
    tasks = [
        asyncio.create_task(device(broker, i, heartbeat_s, slots, tally))
        for i in range(first, first + count)
    ]
    while tally.connected < count:  # noqa: ASYNC110  (a tally, not an event)
        await asyncio.sleep(0.5)
    print("connected", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # the parent closes it to stop us
    print(
        f"sent {tally.heartbeats} acked {tally.acked} connected {tally.connected} "
        f"reconnects {tally.dropped}",
        flush=True,
    )
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- the run ---------------------------------------------------------------------


def bridged(workdir: Path, to: local_services.LocalServer) -> local_services.LocalServer:
    """A second broker that forwards device traffic to ``to``, as a cluster member."""
    broker = local_services.mosquitto(workdir)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        conf.read_text() + f"\nconnection carebell-cluster\naddress 127.0.0.1:{to.port}\n"
        "topic carebell/v1/# out 1\n"
        "cleansession false\nremote_clientid bridge-b\nnotifications false\n"
    )
    return broker


def compressed_catalog(path: Path, heartbeat_s: float) -> Path:
    """The shipped alert types with supervision compressed like the heartbeats."""
    catalog = yaml.safe_load(Settings().alert_types_file.read_text())
    for rule in catalog["supervision"].values():
        rule["heartbeat_s"] = heartbeat_s
        rule.pop("quiet_hours", None)
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True))
    return path


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(p * 10) - 1]


def start_simulators(args: argparse.Namespace, brokers: list[str]) -> list[subprocess.Popen[str]]:
    per = args.devices // len(brokers)
    every = [
        "--heartbeat-s",
        str(args.heartbeat_s),
        "--connects-at-once",
        str(args.connects_at_once),
    ]
    return [
        subprocess.Popen(
            [sys.executable, __file__, "--simulate", url, str(i * per), str(per), *every],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, url in enumerate(brokers)
    ]


def heard_since(db: Database, since: datetime) -> int:
    """Devices heard from since ``since`` (-1 while the gateway holds SQLite's lock)."""
    with contextlib.suppress(OperationalError), db.session() as session:
        query = select(func.count()).select_from(Device).where(col(Device.last_seen_at) >= since)
        return int(session.exec(query).one())
    return -1


def marked_offline(db: Database) -> int:
    """Devices supervision (or a will) holds offline now."""
    with db.session() as session:
        query = select(func.count()).select_from(Device)
        return int(session.exec(query.where(col(Device.online).is_(False))).one())


async def measure(settings: Settings, args: argparse.Namespace, brokers: list[str]) -> None:
    db = Database(settings.database_url)
    committed: list[tuple[float, list[tuple[str, bytes]]]] = []
    async with running_services(settings) as services:
        gateway = services.gateway
        assert gateway is not None
        store = gateway.handler

        async def timed(batch: list[tuple[str, bytes]]) -> None:
            await store(batch)  # returns once committed, before the broker is acked
            committed.append((time.time(), batch))

        gateway.handler = timed
        sims = await asyncio.to_thread(start_simulators, args, brokers)
        try:
            clock, connected_at = time.monotonic(), datetime.now(UTC)
            for sim in sims:
                assert sim.stdout is not None
                line = await asyncio.to_thread(sim.stdout.readline)
                if line.strip() != "connected":
                    raise RuntimeError(f"a simulator failed: {line!r}")
            print(f"{args.devices:,} devices connected in {time.monotonic() - clock:.0f} s")
            # The connect storm (every device's retained "online") is a different
            # test: the window starts once the gateway has taken it.
            clock = time.monotonic()
            while await asyncio.to_thread(heard_since, db, connected_at) < args.devices:  # noqa: ASYNC110
                await asyncio.sleep(1.0)
            print(f"the gateway took the connect storm in {time.monotonic() - clock:.0f} s")
            await asyncio.sleep(args.heartbeat_s)
            storm_offline = await asyncio.to_thread(marked_offline, db)
            start, start_at = time.time(), datetime.now(UTC)
            await asyncio.sleep(args.minutes * 60)
            end = time.time()

            advanced = await asyncio.to_thread(heard_since, db, start_at)
            offline = await asyncio.to_thread(marked_offline, db)
        finally:
            for sim in sims:  # closing its stdin stops a simulator
                out, _ = await asyncio.to_thread(sim.communicate)
                print("simulator:", out.strip())
    db.dispose()

    lags: list[float] = []
    for at, batch in committed:
        if not start <= at < end:
            continue
        for topic, payload in batch:
            if topic.endswith("/events"):
                sent = datetime.fromisoformat(json.loads(payload)["ts"]).timestamp()
                lags.append(at - sent)
    rate = len(lags) / (end - start)
    print(f"\n{'what':<50} {'figure':>12}")
    print(f"{'devices connected (two brokers, bridged)':<50} {args.devices:>12,}")
    print(f"{'heartbeat every':<50} {args.heartbeat_s:>10.0f} s")
    print(f"{'window':<50} {end - start:>10.0f} s")
    print(f"{'heartbeats committed, per second':<50} {rate:>12,.0f}")
    for name, p in (("p50", 50.0), ("p99", 99.0)):
        print(f"{'lag sent → committed ' + name:<50} {percentile(lags, p) * 1000:>9.0f} ms")
    print(f"{'lag sent → committed max':<50} {max(lags) * 1000:>9.0f} ms")
    print(f"{'devices whose last_seen advanced in the window':<50} {advanced:>12,}")
    print(f"{'devices offline at the end of the window':<50} {offline:>12,}")
    print(f"{'  (at its start, after the connect storm)':<50} {storm_offline:>12,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--heartbeat-s", type=float, default=20.0)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--connects-at-once", type=int, default=200)
    parser.add_argument("--simulate", nargs=3, metavar=("URL", "FIRST", "COUNT"))
    args = parser.parse_args()
    # Each process holds up to 10,000 sockets: take the whole (hard) allowance.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.simulate:
        url, first, count = args.simulate
        asyncio.run(simulate(url, int(first), int(count), args.heartbeat_s, args.connects_at_once))
        return

    work = Path(tempfile.mkdtemp(prefix="carebell-fleet20k-"))
    first = local_services.mosquitto(work / "broker-a").start()
    second = bridged(work / "broker-b", first).start()
    redis = local_services.redis(work / "redis").start()
    try:
        settings = Settings(
            database_url=f"sqlite:///{work / 'fleet.db'}",
            mqtt_url=first.url,
            redis_url=redis.url,
            roles={"gateway"},
            mqtt_client_id="fleet-gateway",
            alert_types_file=compressed_catalog(work / "alert_types.yaml", args.heartbeat_s),
            supervision_sweep_s=5,
        )
        db = Database(settings.database_url)
        db.create_schema()
        now = datetime.now(UTC)
        with db.session() as session:  # heart-beating before the run, as a fleet is
            session.add_all(
                Device(id=device_id(i), kind=KIND, online=True, last_seen_at=now)
                for i in range(args.devices)
            )
        db.dispose()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(measure(settings, args, [first.url, second.url]))
    finally:
        for server in (first, second, redis):
            server.stop()


if __name__ == "__main__":
    main()
