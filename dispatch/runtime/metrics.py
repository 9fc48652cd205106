"""Prometheus metrics: what flows in, what is refused, what is offline or waiting.

Counters and histograms are updated where things happen; the gauges that live in
the database (devices offline, open alerts, the outbox backlog) are read when
Prometheus scrapes ``GET /metrics``, so they are never stale and cost nothing
between scrapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func
from sqlmodel import col, select

from dispatch.domain.lifecycle import OPEN_ALERT_STATES
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, Device

MESSAGES = Counter("carebell_device_messages", "Device messages stored, by outcome", ["outcome"])
REJECTED = Counter(
    "carebell_device_messages_rejected", "Device messages refused, by reason", ["reason"]
)
BATCH_SECONDS = Histogram(
    "carebell_ingest_commit_seconds",
    "From a batch's arrival at the gateway to its commit (before the broker is acked)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_FAILURES = Counter(
    "carebell_ingest_batch_failures",
    "Batches that could not be stored (database away); each is tried again, unacknowledged",
)
GATEWAY_BACKLOG = Gauge(
    "carebell_gateway_backlog_messages",
    "Device messages the gateway took from the broker and has not stored yet",
)
BATCH_SIZE = Histogram(
    "carebell_ingest_batch_messages",
    "Messages committed together",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)


class DatabaseGauges(Collector):
    """Read at scrape time from the database every process shares."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.db.read() as session:
            offline = session.exec(
                select(func.count())
                .select_from(Device)
                .where(col(Device.active).is_(True), col(Device.online).is_(False))
            ).one()
            open_alerts = session.exec(
                select(func.count())
                .select_from(Alert)
                .where(col(Alert.state).in_(OPEN_ALERT_STATES))
            ).one()
            backlog = session.exec(
                select(func.count())
                .select_from(AuditRecord)
                .where(col(AuditRecord.published).is_(False))
            ).one()
        yield GaugeMetricFamily("carebell_devices_offline", "Active devices offline", offline)
        yield GaugeMetricFamily("carebell_open_alerts", "Alerts not yet closed", open_alerts)
        yield GaugeMetricFamily(
            "carebell_outbox_backlog", "Committed steps not yet on the live streams", backlog
        )


_registered: dict[int, DatabaseGauges] = {}


def watch(db: Database) -> None:
    """Expose ``db``'s gauges (once per process: the last database started wins)."""
    for old in list(_registered.values()):
        REGISTRY.unregister(old)
    _registered.clear()
    gauges = DatabaseGauges(db)
    REGISTRY.register(gauges)
    _registered[id(db)] = gauges


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def count_rejected(reason: str, n: int = 1) -> None:
    REJECTED.labels(reason=reason).inc(n)


def count(outcomes: Any) -> None:
    for outcome in outcomes:
        MESSAGES.labels(outcome=str(outcome)).inc()
