"""What the voice service needs to know of a device, looked up once per burst.

Every ``alert.raised`` on the board stream asks whether its device talks, and
whose it is. One read session per alert cost the gateway's server process more
than the gateway itself in a surge (a database round trip and a pooled
connection's ping each); the alerts of one burst arrive together, so their
devices are read together, in one query, while the next burst queues for the
query after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from dispatch.domain.areas import Place
from dispatch.domain.device_effects import NOWHERE
from dispatch.store.db import Database
from dispatch.store.tables import Device, Elder


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    kind: str
    elder_name: str
    place: Place  # the elder's: operators of other areas do not see the call


def device_facts(db: Database, device_ids: Collection[str]) -> dict[str, DeviceFacts]:
    """The facts of each known device among ``device_ids`` (a read: no write lock)."""
    with db.read() as session:
        rows = session.execute(
            select(
                col(Device.id),
                col(Device.kind),
                col(Elder.id),
                col(Elder.name),
                col(Elder.district),
                col(Elder.street),
                col(Elder.community),
            )
            .join(Elder, col(Elder.id) == col(Device.elder_id), isouter=True)
            .where(col(Device.id).in_(list(device_ids)))
        ).all()
    return {
        device_id: DeviceFacts(kind, name, Place.known(district, street, community))
        if elder_id is not None
        else DeviceFacts(kind, "", NOWHERE)
        for device_id, kind, elder_id, name, district, street, community in rows
    }


class FactsLookup:
    """``get`` one device's facts; the devices asked for meanwhile share one query.

    One query at a time: the ids asked for while it runs wait for the next one,
    so a burst of N alerts costs one or two queries, not N.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._asked: dict[str, asyncio.Future[DeviceFacts | None]] = {}
        self._running: asyncio.Task[None] | None = None

    async def get(self, device_id: str) -> DeviceFacts | None:
        future = self._asked.get(device_id)
        if future is None:
            future = self._asked[device_id] = asyncio.get_running_loop().create_future()
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._answer())
        return await asyncio.shield(future)

    async def _answer(self) -> None:
        await asyncio.sleep(0)  # the rest of this burst's events ask first
        while self._asked:
            asked, self._asked = self._asked, {}
            try:
                found = await self.db.run(device_facts, self.db, list(asked))
            except Exception as exc:  # each asker sees the failure, as its own read would
                for future in asked.values():
                    if not future.done():
                        future.set_exception(exc)
                continue
            for device_id, future in asked.items():
                if not future.done():
                    future.set_result(found.get(device_id))
