"""The gateway's ingest in a helper process: same outcomes, refusals counted in the
server, and a helper that dies is replaced without losing the batch."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from config.settings import Settings
from devices.protocol import event_payload, events_topic
from dispatch.emergency.ingest import Outcome
from dispatch.emergency.ingest_process import IngestConfig, IngestProcess
from dispatch.runtime import metrics
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.db import Database
from tests.helpers import seed_small_city


@pytest.fixture
async def helper(sqlite_url: str) -> AsyncIterator[IngestProcess]:
    settings = Settings(database_url=sqlite_url)
    process = IngestProcess(
        IngestConfig(sqlite_url, load_catalog(settings.alert_types_file), 300.0, settings.timezone),
        on_rejected=metrics.count_rejected,
    )
    yield process
    process.close()


def rejected(reason: str) -> float:
    return metrics.REJECTED.labels(reason=reason)._value.get()


async def test_helper_stores_like_the_server_and_reports_refusals(
    sqlite_url: str, helper: IngestProcess
) -> None:
    db = Database(sqlite_url)
    db.create_schema()
    city = seed_small_city(db)
    db.dispose()
    await helper.start()
    at = datetime.now(UTC)
    press = (events_topic(city.device_id), event_payload("e1", "press", at))
    before = rejected("not_json")
    stored = await helper.store([press, press, (press[0], b"{oops")], at)
    assert stored.outcomes == [Outcome.RAISED, Outcome.DUPLICATE, Outcome.REJECTED]
    # Both copies are held now: the device hears of each (it cannot tell which arrived).
    assert stored.received == [(city.device_id, "e1"), (city.device_id, "e1")]
    assert rejected("not_json") == before + 1


async def test_a_helper_that_dies_is_replaced_and_the_batch_stored_once(
    sqlite_url: str, helper: IngestProcess
) -> None:
    db = Database(sqlite_url)
    db.create_schema()
    city = seed_small_city(db)
    db.dispose()
    await helper.start()
    for pid in list(helper._pool._processes):  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
    at = datetime.now(UTC)
    press = (events_topic(city.device_id), event_payload("e1", "press", at))
    assert (await helper.store([press], at)).outcomes == [Outcome.RAISED]
    assert (await helper.store([press], at)).outcomes == [Outcome.DUPLICATE]
