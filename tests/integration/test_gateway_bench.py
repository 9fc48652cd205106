"""bench/gateway.py's drain ends when messages are refused (a dead letter is a
row too), on a real broker, Redis and SQLite."""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from config.settings import Settings
from devices.protocol import event_payload, events_topic
from dispatch.store.db import Database
from dispatch.store.tables import Device
from simulators import local_services

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gateway.py"


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gateway_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_drain_with_refused_messages_ends_with_none_missing(
    private_mosquitto: local_services.LocalServer,
    redis_server: local_services.LocalServer,
    sqlite_url: str,
) -> None:
    bench = bench_module()
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=sqlite_url,
        mqtt_url=private_mosquitto.url,
        redis_url=redis_server.url,
        redis_prefix=f"bench-{tag}",
        roles={"gateway"},
        mqtt_client_id=f"bench-{tag}",
        gateway_ingest_process=False,
    )
    db = Database(settings.database_url)
    db.create_schema()
    now = datetime.now(UTC)
    with db.session() as session:
        session.add(Device(id="pb-known", kind="panic_button", online=True, last_seen_at=now))
    db.dispose()
    messages = [
        (events_topic("pb-known"), event_payload(uuid.uuid4().hex, "heartbeat", now))
        for _ in range(10)
    ] + [  # devices nobody registered: each a dead letter, no event row
        (events_topic(f"pb-nobody-{i}"), event_payload(uuid.uuid4().hex, "press", now))
        for i in range(10)
    ]
    started = time.monotonic()
    drained = bench.gateway_rate(settings, messages)
    assert drained.missing == 0
    assert drained.rate > 0
    assert time.monotonic() - started < bench.STALLED_S  # ended on its count, not the timeout
