"""20,000 connected devices heart-beating into one gateway, as production would
run them: on a cluster of two Mosquitto brokers.

A process here may open at most 20,000 files (a hard limit, for the broker too),
so 20,000 device connections need two brokers. The second is bridged to the
first for ``carebell/v1/#`` (QoS 1, persistent bridge session); the gateway is a
client of the first. Two simulator processes each hold 10,000 devices, every one
its own MQTT client (simulators/fleet.py), on one broker each. Heartbeats are
compressed (every 20 s by default instead of 5 min: 15x production), and so is
supervision: a device not heard from for two heartbeats is marked offline.

Once the fleet is connected, the run measures for a few minutes:

  lag          heartbeat sent (its ``ts``) -> committed by the gateway, p50/p99/max
  coverage     devices whose last_seen_at advanced during the window
  offline      devices marked offline (should be none: no device stopped)

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
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import func
from sqlmodel import col, select

from config.settings import Settings
from devices.mqtt import BrokerAddress
from dispatch import local_services
from dispatch.services import running_services
from dispatch.store.db import Database
from dispatch.store.tables import Device
from simulators.fleet import SimDevice

KIND = "panic_button"


def device_id(i: int) -> str:
    return f"pb-{i:06d}"


# -- a simulator process: its share of the fleet on one broker ------------------


async def simulate(
    url: str, first: int, count: int, heartbeat_s: float, connects_at_once: int
) -> None:
    """Run devices first..first+count on the broker at ``url`` until stdin closes."""
    broker = BrokerAddress.parse(url)
    fleet = [
        SimDevice(device_id(i), KIND, broker, "5", heartbeat_s, random.Random(i))
        for i in range(first, first + count)
    ]
    # Fewer connects at once than a load run uses: on two shared cores a larger
    # burst misses aiomqtt's 10 s CONNACK deadline, and the retries make it worse.
    slots = asyncio.Semaphore(connects_at_once)
    tasks = [asyncio.create_task(d.run(slots)) for d in fleet]
    await asyncio.gather(*(d.connected.wait() for d in fleet))
    print("connected", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # the parent closes it to stop us
    heartbeats = sum(d.sent_by_type["heartbeat"] for d in fleet)
    still = sum(d.connected.is_set() for d in fleet)
    print(f"sent {heartbeats} connected {still}", flush=True)
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
            clock = time.monotonic()
            for sim in sims:
                assert sim.stdout is not None
                line = await asyncio.to_thread(sim.stdout.readline)
                if line.strip() != "connected":
                    raise RuntimeError(f"a simulator failed: {line!r}")
            print(f"{args.devices:,} devices connected in {time.monotonic() - clock:.0f} s")
            await asyncio.sleep(2 * args.heartbeat_s)  # every device past its first heartbeat
            start, start_at = time.time(), datetime.now(UTC)
            await asyncio.sleep(args.minutes * 60)
            end = time.time()

            def snapshot() -> tuple[int, int]:
                with db.session() as session:
                    advanced = session.exec(
                        select(func.count())
                        .select_from(Device)
                        .where(col(Device.last_seen_at) >= start_at)
                    ).one()
                    offline = session.exec(
                        select(func.count())
                        .select_from(Device)
                        .where(col(Device.offline_since).is_not(None))
                    ).one()
                return int(advanced), int(offline)

            advanced, offline = await asyncio.to_thread(snapshot)
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
    print(f"{'devices marked offline':<50} {offline:>12,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--heartbeat-s", type=float, default=20.0)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--connects-at-once", type=int, default=50)
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
        with db.session() as session:  # registered, not yet heard from
            session.add_all(Device(id=device_id(i), kind=KIND) for i in range(args.devices))
        db.dispose()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(measure(settings, args, [first.url, second.url]))
    finally:
        for server in (first, second, redis):
            server.stop()


if __name__ == "__main__":
    main()
