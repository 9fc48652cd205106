"""Devices that stopped checking in: found from the database, so a restart loses none.

A device is offline once it has been silent for its kind's heartbeat period times
the check-ins it may miss, or once its MQTT will fired and it has not come back
within the grace period (config/alert_types.yaml, "supervision"). The sweep
reads ``last_seen_at`` from the database, so a device that went silent while every
gateway was down is still noticed by the first sweep after start; rows are taken
with SKIP LOCKED, so several processes sweep without raising an alert twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import and_, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from dispatch.background import cancelling
from dispatch.emergency.ingest import Ingest, Outcome
from dispatch.store.db import Database
from dispatch.store.tables import Device

log = logging.getLogger(__name__)
BATCH = 1_000


class Supervisor:
    def __init__(self, db: Database, ingest: Ingest) -> None:
        self.db = db
        self.ingest = ingest

    def sweep(self, now: datetime) -> int:
        """Mark every overdue device offline; return how many alerts that raised."""
        raised = 0
        catalog = self.ingest.catalog
        gone = now - timedelta(seconds=catalog.policy.will_grace_s)
        with self.db.session() as session:
            for kind, rule in catalog.supervision.items():
                silent = now - timedelta(seconds=rule.silent_after_s)
                overdue = session.exec(
                    select(Device)
                    .where(
                        Device.kind == kind,
                        col(Device.active).is_(True),
                        col(Device.offline_alerted).is_(False),
                        or_(
                            and_(col(Device.online).is_(True), col(Device.last_seen_at) < silent),
                            and_(col(Device.online).is_(False), col(Device.offline_since) < gone),
                        ),
                    )
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                ).all()
                for device in overdue:
                    why = (
                        "its connection dropped and it did not come back"
                        if device.online is False
                        else f"no check-in for {rule.silent_after_s:.0f} s"
                    )
                    if self.ingest.device_offline(session, device, now, why) is Outcome.RAISED:
                        raised += 1
        if raised:
            log.info("%d devices stopped checking in", raised)
        return raised

    async def run(self, every_s: float, after_change: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                if await self.db.run(self.sweep, datetime.now(UTC)):
                    await after_change()
            except (SQLAlchemyError, RedisError, OSError):  # away: the next sweep tries again
                if cancelling():
                    raise
                log.exception("supervision sweep failed")
            await asyncio.sleep(every_s)
