"""Relays committed audit records to the live streams (the transactional outbox).

Writers commit an audit record with ``published = false`` in the same transaction
as the state change, then call :meth:`Outbox.flush`. A record that could not be
published (Redis down) stays unpublished and goes out on a later flush, so the
board never misses a step that the database holds.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from redis.exceptions import RedisError
from sqlalchemy import update
from sqlmodel import col, select

from dispatch.live.bus import LiveBus
from dispatch.store.db import Database
from dispatch.store.tables import AuditRecord

log = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    caregiver_id: UUID | None
    entity: str
    event: dict[str, Any]


class Outbox:
    def __init__(self, db: Database, bus: LiveBus) -> None:
        self.db = db
        self.bus = bus
        self._lock = asyncio.Lock()  # keeps this process's events in audit order

    def _claim(self) -> list[_Claimed]:
        with self.db.session() as session:
            ids = select(AuditRecord.id).where(col(AuditRecord.published).is_(False))
            ids = ids.order_by(col(AuditRecord.id)).limit(BATCH)
            claim = (
                update(AuditRecord)
                .where(col(AuditRecord.id).in_(ids.scalar_subquery()))
                .values(published=True)
                .returning(
                    col(AuditRecord.id),
                    col(AuditRecord.caregiver_id),
                    col(AuditRecord.entity),
                    col(AuditRecord.event),
                )
            )
            claimed = session.execute(claim).all()
        return sorted((_Claimed(*row) for row in claimed), key=lambda c: c.id)

    def _unclaim(self, ids: list[int]) -> None:
        with self.db.session() as session:
            session.execute(
                update(AuditRecord).where(col(AuditRecord.id).in_(ids)).values(published=False)
            )

    def deliveries(self, records: list[_Claimed]) -> list[tuple[str, dict[str, Any]]]:
        """Every record goes to the board; order records also to their caregiver."""
        out: list[tuple[str, dict[str, Any]]] = []
        for record in records:
            out.append((self.bus.board_stream, record.event))
            if record.entity == "order" and record.caregiver_id:
                out.append((self.bus.caregiver_stream(str(record.caregiver_id)), record.event))
        return out

    async def flush(self) -> int:
        """Publish every unpublished record; return how many went out."""
        sent = 0
        async with self._lock:
            while True:
                records = await self.db.run(self._claim)
                if not records:
                    return sent
                try:
                    await self.bus.publish(self.deliveries(records))
                except (RedisError, OSError) as exc:
                    log.warning("live events held back, Redis unavailable: %s", exc)
                    await self.db.run(self._unclaim, [r.id for r in records])
                    return sent
                sent += len(records)
