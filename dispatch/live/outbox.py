"""Relays committed audit records to the live streams (the transactional outbox).

Writers commit an audit record with ``published = false`` in the same transaction
as the state change, then call :meth:`Outbox.flush`. A flush leases the records
it publishes for a few seconds, appends them to Redis, then marks them published.
A record that could not be published (Redis down) is released and goes out on a
later flush; one whose publisher died keeps its lease only until it expires, and
the next sweep, in any process, publishes it. So the board never misses a step
that the database holds; a step may, rarely, arrive twice (a publisher that died
between appending and marking), and clients drop repeats by audit id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from redis.exceptions import RedisError
from sqlalchemy import or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from dispatch.background import cancelling
from dispatch.live.bus import LiveBus
from dispatch.store.db import Database
from dispatch.store.tables import AuditRecord

log = logging.getLogger(__name__)
BATCH = 500
LEASE = timedelta(seconds=5)  # far longer than an append to Redis takes
# A writer's records, once in Redis, are marked published by the next claim (a
# writer's transaction or a pass), or after this long by a settle of their own.
# Far inside the lease: a record still leased when it ends is published again.
SETTLE_AFTER_S = 0.25


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    caregiver_id: UUID | None
    entity: str
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Claim:
    """What a writer's transaction claimed (:meth:`Outbox.claim_in`), and the
    records published earlier that it marked published on the way."""

    records: list[Claimed]
    settled: tuple[int, ...] = ()


class Outbox:
    def __init__(self, db: Database, bus: LiveBus) -> None:
        self.db = db
        self.bus = bus
        self._lock = asyncio.Lock()  # keeps this process's events in audit order
        self._kicked = asyncio.Event()
        # Flush requests are numbered; a pass covers every request made before it
        # started. Callers queued behind a pass that covers them need no pass of
        # their own, so N writers at once cost one or two passes, not N.
        self._asked = 0
        self._covered = 0
        # Published by a writer's claim, not yet marked so: the next claim marks
        # them, in its own transaction (database threads read this; hence the lock).
        self._unsettled: set[int] = set()
        self._unsettled_lock = threading.Lock()
        self._settler: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """Have :meth:`run` flush now, without waiting for it."""
        self._kicked.set()

    async def run(self, sweep_s: float) -> None:
        """Flush when kicked, and every ``sweep_s`` anyway: what could not go out at
        once (Redis was down, a publisher died) goes out on a later sweep."""
        try:
            await self._run(sweep_s)
        finally:
            # Stopping: what went out is marked so now, not published again by
            # the next start's sweep when its lease ends.
            if self._settler is not None:
                self._settler.cancel()
            with contextlib.suppress(SQLAlchemyError):
                await self._settle_published()

    async def _run(self, sweep_s: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(sweep_s):
                    await self._kicked.wait()
            self._kicked.clear()
            try:
                await self.flush()
            except (SQLAlchemyError, RedisError, OSError):  # away: the next sweep tries again
                if cancelling():
                    raise
                log.exception("outbox flush failed")
            if cancelling():  # a client library took the cancel for an error of its own
                raise asyncio.CancelledError

    def _claim(self) -> list[Claimed]:
        with self.db.session() as session:
            claim = self.claim_in(session)
        self._forget(claim.settled)
        return claim.records

    def claim_in(self, session: Session) -> Claim:
        """:func:`claim_pending` in a writer's transaction, which also marks the
        records published since the last claim (one settle transaction less for
        each writer). Hand the result to :meth:`publish_claimed` after the commit.
        """
        with self._unsettled_lock:
            settling = tuple(sorted(self._unsettled))
        if settling:
            session.execute(
                update(AuditRecord)
                .where(col(AuditRecord.id).in_(settling))
                .values(published=True, lease_until=None)
                .execution_options(synchronize_session=False)
            )
        return Claim(claim_pending(session), settling)

    def _forget(self, settled: Iterable[int]) -> None:
        """``settled`` is committed as published: nothing left to mark."""
        with self._unsettled_lock:
            self._unsettled.difference_update(settled)

    async def _settle_published(self) -> None:
        with self._unsettled_lock:
            ids = sorted(self._unsettled)
        if ids:
            await self.db.run(self._settle, ids, published=True)
            self._forget(ids)

    async def _settle_soon(self) -> None:
        """Mark what no claim marked in the meantime; retried until done (a
        record whose lease ends first is published again, as after a crash)."""
        while True:
            await asyncio.sleep(SETTLE_AFTER_S)
            try:
                await self._settle_published()
            except SQLAlchemyError as exc:
                log.warning("marking published records failed, retrying: %s", exc)
                continue
            with self._unsettled_lock:
                if not self._unsettled:
                    return

    def _settle(self, ids: list[int], *, published: bool) -> None:
        """Mark leased records published, or release them for a later flush."""
        with self.db.session() as session:
            session.execute(
                update(AuditRecord)
                .where(col(AuditRecord.id).in_(ids))
                .values(published=published, lease_until=None)
            )

    def deliveries(self, records: list[Claimed]) -> list[tuple[str, dict[str, Any]]]:
        """Every record goes to the board; order records also to their caregiver."""
        out: list[tuple[str, dict[str, Any]]] = []
        for record in records:
            event = {**record.event, "audit_id": record.id}  # lets clients drop a repeat
            out.append((self.bus.board_stream, event))
            if record.entity == "order" and record.caregiver_id:
                out.append((self.bus.caregiver_stream(str(record.caregiver_id)), event))
        return out

    async def flush(self) -> int:
        """Publish every record committed before this call.

        Returns how many records the pass that covered this call published (0 when
        another caller's pass, started after this call, already published them).
        """
        self._asked += 1
        asked = self._asked
        async with self._lock:
            if self._covered >= asked:
                return 0
            covers = self._asked  # every request so far committed before this pass
            sent = await self._publish_pending()
            self._covered = covers
            return sent

    async def publish_claimed(self, claim: Claim) -> bool:
        """Publish records a writer claimed in its own transaction (:meth:`claim_in`).

        The writer's transaction was the claim, so its events go out without a
        pass of their own (one transaction less between a commit and the live
        stream), and are marked published by the next claim, not by a settle
        transaction of their own. False when Redis could not take them: they are
        released for the next pass. Passes hold the same lock, so a pass that
        claimed earlier records publishes them first.
        """
        self._forget(claim.settled)
        if not claim.records:
            return True
        async with self._lock:
            return await self._publish(claim.records, settle_now=False)

    async def _publish(self, records: list[Claimed], *, settle_now: bool = True) -> bool:
        ids = [r.id for r in records]
        try:
            await self.bus.publish(self.deliveries(records))
        except (RedisError, OSError) as exc:
            log.warning("live events held back, Redis unavailable: %s", exc)
            await self.db.run(self._settle, ids, published=False)
            return False
        if settle_now:
            await self.db.run(self._settle, ids, published=True)
            return True
        with self._unsettled_lock:
            self._unsettled.update(ids)
        if self._settler is None or self._settler.done():
            self._settler = asyncio.get_running_loop().create_task(self._settle_soon())
        return True

    async def _publish_pending(self) -> int:
        sent = 0
        while True:
            records = await self.db.run(self._claim)
            if not records:
                return sent
            if not await self._publish(records):
                return sent
            sent += len(records)
            if len(records) < BATCH:
                # Drained when claimed; whatever was committed since comes with a
                # request of its own, which starts the next pass.
                return sent


def claim_pending(session: Session) -> list[Claimed]:
    """Lease the oldest unpublished records (up to BATCH) in ``session``'s transaction.

    A writer that calls this in its own transaction, after its changes, claims
    its records with them; it then hands the result to :meth:`Outbox.publish_claimed`
    after the commit. Fewer than BATCH means nothing else was waiting.
    """
    now = datetime.now(UTC)
    session.flush()  # the session's own new records are claimed with the rest
    ids = select(AuditRecord.id).where(
        col(AuditRecord.published).is_(False),
        or_(col(AuditRecord.lease_until).is_(None), col(AuditRecord.lease_until) < now),
    )
    # Writers claim in their own transactions now, several at once on PostgreSQL:
    # one skips the rows another is leasing rather than waiting to lease them too.
    ids = ids.order_by(col(AuditRecord.id)).limit(BATCH).with_for_update(skip_locked=True)
    claim = (
        update(AuditRecord)
        .where(col(AuditRecord.id).in_(ids.scalar_subquery()))
        .values(lease_until=now + LEASE)
        .returning(
            col(AuditRecord.id),
            col(AuditRecord.caregiver_id),
            col(AuditRecord.entity),
            col(AuditRecord.event),
        )
        .execution_options(synchronize_session=False)
    )
    claimed = session.execute(claim).all()
    return sorted((Claimed(*row) for row in claimed), key=lambda c: c.id)
