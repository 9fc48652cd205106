"""The outbox: every committed step reaches the live streams, whatever fails between.

Real Redis and a real database; the failures are real too (a Redis server the
test stops and starts, a publisher that leaves with its lease held).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from config.settings import Settings
from dispatch.domain.actor import Actor
from dispatch.live import outbox as outbox_module
from dispatch.live.bus import LiveBus
from dispatch.live.outbox import Outbox
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.audit import raise_alert
from dispatch.store.db import Database
from dispatch.store.tables import AuditRecord, Device
from simulators import local_services


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(Settings(database_url=database_url).database_url)
    database.create_schema()
    with database.session() as session:
        session.add(Device(id="pb-1", kind="panic_button"))
    yield database
    database.dispose()


def raise_one(db: Database) -> uuid.UUID:
    kind = load_catalog(Settings().alert_types_file).alert_types["help_button"]
    now = datetime.now(UTC)
    with db.session() as session:
        alert = raise_alert(
            session,
            kind,
            device_id="pb-1",
            elder=None,
            lat=31.23,
            lon=121.47,
            at=now,
            device_ts=now,
            actor=Actor.device("pb-1"),
        )
    return alert.id


async def board_alert_ids(bus: LiveBus) -> list[str]:
    entries = await bus.redis.xrange(bus.board_stream)
    return [json.loads(fields[b"m"])["alert"]["id"] for _, fields in entries]


def unpublished(db: Database) -> list[AuditRecord]:
    with db.session() as session:
        query = select(AuditRecord).where(col(AuditRecord.published).is_(False))
        return list(session.exec(query).all())


async def test_a_publisher_that_dies_mid_publish_is_taken_over_when_its_lease_expires(
    db: Database, redis_server: local_services.LocalServer
) -> None:
    bus = LiveBus.from_url(redis_server.url, f"t-{uuid.uuid4().hex[:8]}")
    alert_id = raise_one(db)
    # A process claims the record, then dies before it reaches Redis.
    dying = Outbox(db, bus)
    [claimed] = dying._claim()
    # While the lease holds, nobody else publishes it (no double publishing)...
    survivor = Outbox(db, bus)
    assert await survivor.flush() == 0
    assert await board_alert_ids(bus) == []
    # ...and once it has expired, the next sweep does.
    with db.session() as session:
        session.execute(
            update(AuditRecord)
            .where(col(AuditRecord.id) == claimed.id)
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert await survivor.flush() == 1
    assert await board_alert_ids(bus) == [str(alert_id)]
    assert unpublished(db) == []
    [(_, fields)] = await bus.redis.xrange(bus.board_stream)
    assert json.loads(fields[b"m"])["audit_id"] == claimed.id
    await bus.close()


async def test_a_lease_is_short(
    db: Database, redis_server: local_services.LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "LEASE", timedelta(milliseconds=200))
    bus = LiveBus.from_url(redis_server.url, f"t-{uuid.uuid4().hex[:8]}")
    raise_one(db)
    Outbox(db, bus)._claim()
    await asyncio.sleep(0.3)
    assert await Outbox(db, bus).flush() == 1
    await bus.close()


async def test_steps_committed_while_redis_is_down_go_out_when_it_is_back(
    db: Database, tmp_path: Path
) -> None:
    redis = local_services.redis(tmp_path / "redis").start()
    bus = LiveBus.from_url(redis.url, "t")
    try:
        redis.stop()
        alert_id = raise_one(db)  # the database has it: the alert is safe
        outbox = Outbox(db, bus)
        assert await outbox.flush() == 0
        [held] = unpublished(db)
        assert held.lease_until is None  # released, not left leased
        redis.start()
        assert await outbox.flush() == 1
        assert await board_alert_ids(bus) == [str(alert_id)]
        assert unpublished(db) == []
    finally:
        await bus.close()
        redis.stop()


async def test_writers_flushing_at_once_share_passes_and_each_step_goes_out_once(
    db: Database, redis_server: local_services.LocalServer
) -> None:
    # Every writer awaits a flush after its commit. Twenty at once must not queue
    # twenty passes of claim and settle transactions behind one another.
    bus = LiveBus.from_url(redis_server.url, f"t-{uuid.uuid4().hex[:8]}")
    outbox = Outbox(db, bus)
    claims = 0
    claim = outbox._claim

    def counting_claim() -> list[outbox_module.Claimed]:
        nonlocal claims
        claims += 1
        return claim()

    outbox._claim = counting_claim  # type: ignore[method-assign]
    alert_ids = [raise_one(db) for _ in range(20)]
    sent = await asyncio.gather(*(outbox.flush() for _ in alert_ids))
    assert sum(sent) == 20
    assert claims <= 2
    assert sorted(await board_alert_ids(bus)) == sorted(str(a) for a in alert_ids)
    assert unpublished(db) == []
    await bus.close()


async def test_a_flush_publishes_what_was_committed_while_an_earlier_pass_ran(
    db: Database, redis_server: local_services.LocalServer
) -> None:
    bus = LiveBus.from_url(redis_server.url, f"t-{uuid.uuid4().hex[:8]}")
    outbox = Outbox(db, bus)
    first = raise_one(db)
    passing = asyncio.create_task(outbox.flush())
    await asyncio.sleep(0)  # the first pass has claimed, or is about to
    second = await asyncio.to_thread(raise_one, db)
    await outbox.flush()  # asked after the second commit: must cover it
    await passing
    assert sorted(await board_alert_ids(bus)) == sorted([str(first), str(second)])
    assert unpublished(db) == []
    await bus.close()


def raise_and_claim(db: Database, outbox: Outbox) -> outbox_module.Claim:
    """A writer that claims its own record in its transaction, as the dispatcher does."""
    kind = load_catalog(Settings().alert_types_file).alert_types["help_button"]
    now = datetime.now(UTC)
    with db.session() as session:
        raise_alert(
            session,
            kind,
            device_id="pb-1",
            elder=None,
            lat=31.23,
            lon=121.47,
            at=now,
            device_ts=now,
            actor=Actor.device("pb-1"),
        )
        return outbox.claim_in(session)


async def test_a_writers_published_records_are_marked_so_by_the_next_writers_claim(
    db: Database, redis_server: local_services.LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each publish cost a settle transaction of its own; now the next claim (in
    # another writer's transaction) marks what went out since the last one.
    monkeypatch.setattr(outbox_module, "SETTLE_AFTER_S", 3600.0)  # no settle of its own
    bus = LiveBus.from_url(redis_server.url, f"t-{uuid.uuid4().hex[:8]}")
    outbox = Outbox(db, bus)
    first = await asyncio.to_thread(raise_and_claim, db, outbox)
    assert first.settled == ()
    assert await outbox.publish_claimed(first)
    [held] = unpublished(db)  # in Redis, leased, not yet marked
    assert held.id == first.records[0].id
    assert held.lease_until is not None
    second = await asyncio.to_thread(raise_and_claim, db, outbox)
    assert second.settled == (held.id,)
    assert [r.id for r in unpublished(db)] == [second.records[0].id]
    assert await outbox.publish_claimed(second)
    # A pass's claim marks them too; nothing is published twice.
    assert await outbox.flush() == 0
    assert unpublished(db) == []
    assert len(await board_alert_ids(bus)) == 2
    await bus.close()


async def test_published_records_no_claim_marks_are_settled_soon_after(
    db: Database, redis_server: local_services.LocalServer
) -> None:
    bus = LiveBus.from_url(redis_server.url, f"t-{uuid.uuid4().hex[:8]}")
    outbox = Outbox(db, bus)
    claim = await asyncio.to_thread(raise_and_claim, db, outbox)
    assert await outbox.publish_claimed(claim)
    deadline = asyncio.get_running_loop().time() + 40 * outbox_module.SETTLE_AFTER_S
    while unpublished(db):
        assert asyncio.get_running_loop().time() < deadline, "never marked published"
        await asyncio.sleep(0.05)
    with db.session() as session:
        [record] = session.exec(select(AuditRecord)).all()
    assert record.lease_until is None
    await bus.close()
