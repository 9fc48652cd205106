"""The voice service's device look-up: a burst of alerts reads its devices together.

A real database (SQLite and PostgreSQL); the queries are counted as the engine
sends them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from dispatch.domain.areas import Place
from dispatch.domain.device_effects import NOWHERE
from dispatch.store.db import Database
from dispatch.store.tables import Device, Elder
from dispatch.voice.facts import DeviceFacts, FactsLookup


def _count_device_reads(db: Database) -> list[str]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM device" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    return seen


async def test_a_burst_of_lookups_is_one_or_two_queries_and_each_gets_its_own_device(
    db: Database,
) -> None:
    with db.session() as session:
        elder = Elder(
            name="王秀英",
            address="东城路 1 号",
            lat=30.27,
            lon=120.15,
            district="东城区",
            street="和平街",
        )
        session.add(elder)
        session.flush()
        session.add_all(
            Device(id=f"pb-{i}", kind="panic_button", elder_id=elder.id if i % 2 else None)
            for i in range(40)
        )
        session.add(Device(id="wr-1", kind="wearable"))
    queries = _count_device_reads(db)
    lookup = FactsLookup(db)

    asked = [f"pb-{i}" for i in range(40)] + ["wr-1", "nobody", "pb-3"]
    found = await asyncio.gather(*(lookup.get(d) for d in asked))

    assert found[:40] == [
        DeviceFacts("panic_button", "王秀英", Place("东城区", "和平街"))
        if i % 2
        else DeviceFacts("panic_button", "", NOWHERE)
        for i in range(40)
    ]
    assert found[40:] == [DeviceFacts("wearable", "", NOWHERE), None, found[3]]
    assert 1 <= len(queries) <= 2, queries  # not one per alert

    # Asked again later: a new query, with what the table holds now.
    with db.session() as session:
        device = session.get(Device, "wr-1")
        assert device is not None
        device.kind = "door_bell"
    assert await lookup.get("wr-1") == DeviceFacts("door_bell", "", NOWHERE)


async def test_a_failed_query_fails_its_askers_and_the_next_burst_reads_again(
    db: Database,
) -> None:
    with db.session() as session:
        session.add(Device(id="pb-1", kind="panic_button"))
    lookup = FactsLookup(db)
    broken = Database("sqlite:////nonexistent-dir/x.db")  # no such folder: every query fails
    lookup.db = broken
    results = await asyncio.gather(lookup.get("pb-1"), lookup.get("pb-2"), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results)
    broken.dispose()
    lookup.db = db
    assert await lookup.get("pb-1") == DeviceFacts("panic_button", "", NOWHERE)
