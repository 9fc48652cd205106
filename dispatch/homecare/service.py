"""Runs planning for the server: on request, and again when an emergency diverts someone.

Caregivers whose route changed are told on their live stream (``route.changed``);
their app then reads the new route. If Redis is away the message is lost, but the
route itself is in the database and the app reads it on every (re)connect.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from dispatch.background import cancelling
from dispatch.domain.live_events import route_changed_event
from dispatch.homecare.menu import ServiceMenu
from dispatch.homecare.planner import PlanOutcome, plan_day
from dispatch.live.bus import LiveBus
from dispatch.matching.travel import TravelModel
from dispatch.planning.pool import SolverPool
from dispatch.store.db import Database
from dispatch.store.tables import Visit

log = logging.getLogger(__name__)


class HomeCare:
    def __init__(
        self, db: Database, bus: LiveBus, menu: ServiceMenu, travel: TravelModel, tz: ZoneInfo
    ) -> None:
        self.db, self.bus, self.menu, self.travel, self.tz = db, bus, menu, travel, tz
        self._lock = asyncio.Lock()  # one plan at a time in a process
        self.solvers = SolverPool()

    def today(self) -> date:
        return datetime.now(self.tz).date()

    async def plan(
        self, day: date, *, now: datetime | None = None, time_limit_s: float | None = None
    ) -> PlanOutcome:
        async with self._lock:
            outcome = await asyncio.to_thread(
                plan_day,
                self.db,
                self.menu,
                self.travel,
                day,
                self.tz,
                now=now,
                time_limit_s=time_limit_s,
                solve=self.solvers.plan,
            )
        await self._tell(outcome)
        return outcome

    async def _tell(self, outcome: PlanOutcome) -> None:
        message = route_changed_event(outcome.day)
        try:
            await self.bus.publish(
                [(self.bus.caregiver_stream(str(c)), message) for c in outcome.changed]
            )
        except Exception:
            log.exception("could not tell %d caregivers their route changed", len(outcome.changed))

    def _diverted_today(self) -> bool:
        with self.db.session() as session:
            return (
                session.exec(
                    select(Visit.id).where(
                        Visit.day == self.today(), col(Visit.needs_replan).is_(True)
                    )
                ).first()
                is not None
            )

    async def replan_on_diversion(self, every_s: float) -> None:
        """Re-plan the rest of today whenever an emergency has pulled a caregiver away."""
        while True:
            await asyncio.sleep(every_s)
            try:
                if await self.db.run(self._diverted_today):
                    await self.plan(self.today(), now=datetime.now(UTC))
            except (SQLAlchemyError, RedisError, OSError):  # away: the next check tries again
                if cancelling():
                    raise
                log.exception("re-planning after a diversion failed; trying again")
