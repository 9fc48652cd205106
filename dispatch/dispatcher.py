"""The dispatch loop: expire offers, claim waiting alerts, match them together, offer.

Runs in every server process that has the "dispatcher" role. Processes share the
work through the database: an alert is *claimed* for a few seconds by a conditional
update before it is matched, and a unique index allows a caregiver only one active
order, so two dispatchers can never offer one alert twice or book one caregiver
twice. Positions come from Redis; the decision itself is the pure matcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import col, or_, select

from dispatch.catalog import Catalog
from dispatch.domain.lifecycle import ACTIVE_ORDER_STATES, AlertState, OrderState
from dispatch.domain.model import GeoPoint, Shift, TransportMode
from dispatch.live.bus import LiveBus, Nearby
from dispatch.live.outbox import Outbox
from dispatch.matching.matcher import Decision, FreeCaregiver, MatchSnapshot, WaitingAlert, assign
from dispatch.matching.travel import TravelModel
from dispatch.store.audit import move_alert, move_order, record_offered
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Caregiver, Order

log = logging.getLogger(__name__)
ACTOR = "system:dispatcher"


@dataclass(frozen=True)
class DispatchPolicy:
    offer_timeout_s: float = 30.0
    claim_s: float = 15.0
    escalate_after_s: float = 60.0  # an alert nobody can take for this long goes to operators
    position_max_age_s: float = 300.0  # older positions mean the app went silent
    search_radius_m: float = 10_000.0
    candidates_per_alert: int = 30


class Dispatcher:
    def __init__(
        self,
        db: Database,
        bus: LiveBus,
        outbox: Outbox,
        catalog: Catalog,
        travel: TravelModel,
        *,
        tz: ZoneInfo,
        policy: DispatchPolicy,
        tick_s: float = 1.0,
    ) -> None:
        self.db, self.bus, self.outbox = db, bus, outbox
        self.catalog, self.travel, self.tz = catalog, travel, tz
        self.policy, self.tick_s = policy, tick_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Ask for a round now (a new alert, a declined offer)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.tick_s)
            self._wake.clear()
            try:
                await self.run_round()
            except (RedisError, OSError, OperationalError) as exc:
                # Degraded, not broken: claims lapse and the next round retries.
                log.warning("dispatch round failed, retrying: %s", exc)

    async def run_round(self) -> None:
        now = datetime.now(UTC)
        await self.db.run(self._expire_offers, now)
        waiting = await self.db.run(self._claim_waiting, now)
        if waiting:
            snapshot, nearby = await self._snapshot(waiting, now)
            decisions = await asyncio.to_thread(assign, snapshot, self.travel)
            await self.db.run(self._apply, decisions, nearby, now)
        await self.outbox.flush()

    # -- steps, each one transaction --------------------------------------------

    def _expire_offers(self, now: datetime) -> None:
        with self.db.session() as session:
            stale = session.exec(
                select(Order)
                .where(Order.state == OrderState.OFFERED, Order.expires_at < now)
                .with_for_update(skip_locked=True)
            ).all()
            for order in stale:
                alert = session.get(Alert, order.alert_id)
                assert alert is not None  # foreign key
                move_order(session, order, alert, OrderState.EXPIRED, actor="system:timer", at=now)
        if stale:
            log.info("%d offers expired", len(stale))

    def _claim_waiting(self, now: datetime) -> list[WaitingAlert]:
        with self.db.session() as session:
            alerts = session.exec(
                select(Alert)
                .where(
                    col(Alert.state).in_([AlertState.RAISED, AlertState.DISPATCHING]),
                    or_(col(Alert.claimed_until).is_(None), col(Alert.claimed_until) < now),
                )
                .order_by(col(Alert.raised_at))
                .limit(500)
                .with_for_update(skip_locked=True)
            ).all()
            if not alerts:
                return []
            tried = session.exec(
                select(Order.alert_id, Order.caregiver_id).where(
                    col(Order.alert_id).in_([a.id for a in alerts])
                )
            ).all()
            waiting = []
            for alert in alerts:
                alert.claimed_until = now + timedelta(seconds=self.policy.claim_s)
                session.add(alert)
                if alert.state == AlertState.RAISED:
                    move_alert(session, alert, AlertState.DISPATCHING, actor=ACTOR, at=now)
                waiting.append(
                    WaitingAlert(
                        alert_id=alert.id,
                        position=GeoPoint(alert.lat, alert.lon),
                        alert_type=self.catalog.alert_types[alert.alert_type],
                        raised_at=alert.raised_at,
                        excluded=frozenset(c for a, c in tried if a == alert.id),
                    )
                )
            return waiting

    async def _snapshot(
        self, waiting: Sequence[WaitingAlert], now: datetime
    ) -> tuple[MatchSnapshot, dict[UUID, Nearby]]:
        fresh_after = time.time() - self.policy.position_max_age_s
        nearby: dict[UUID, Nearby] = {}
        for alert in waiting:
            hits = await self.bus.nearby(
                alert.position.lat,
                alert.position.lon,
                self.policy.search_radius_m,
                self.policy.candidates_per_alert,
            )
            for hit in hits:
                if hit.seen_at >= fresh_after:
                    nearby.setdefault(UUID(hit.caregiver_id), hit)
        caregivers = await self.db.run(self._free_caregivers, list(nearby))
        free = tuple(
            FreeCaregiver(
                caregiver_id=c.id,
                position=GeoPoint(nearby[c.id].lat, nearby[c.id].lon),
                skills=frozenset(c.skills),
                shift=Shift(c.shift_start, c.shift_end),
                mode=TransportMode(c.transport),
            )
            for c in caregivers
        )
        snapshot = MatchSnapshot(now.astimezone(self.tz), tuple(waiting), free)
        return snapshot, nearby

    def _free_caregivers(self, ids: list[UUID]) -> list[Caregiver]:
        if not ids:
            return []
        with self.db.session() as session:
            busy = select(Order.caregiver_id).where(col(Order.state).in_(ACTIVE_ORDER_STATES))
            return list(
                session.exec(
                    select(Caregiver).where(
                        col(Caregiver.id).in_(ids),
                        col(Caregiver.active).is_(True),
                        col(Caregiver.id).not_in(busy),
                    )
                ).all()
            )

    def _apply(
        self, decisions: Sequence[Decision], nearby: dict[UUID, Nearby], now: datetime
    ) -> None:
        for decision in decisions:
            try:
                with self.db.session() as session:
                    alert = session.get(Alert, decision.alert_id, with_for_update=True)
                    if alert is None or alert.state != AlertState.DISPATCHING:
                        continue  # cancelled or taken over while we matched
                    alert.claimed_until = None
                    session.add(alert)
                    detail = _explanation(decision)
                    if decision.chosen is not None:
                        option = decision.chosen
                        order = Order(
                            alert_id=alert.id,
                            caregiver_id=option.caregiver_id,
                            offered_at=now,
                            expires_at=now + timedelta(seconds=self.policy.offer_timeout_s),
                            updated_at=now,
                            eta_s=option.eta_s,
                            distance_m=nearby[option.caregiver_id].distance_m,
                        )
                        session.add(order)
                        session.flush()  # the unique index speaks here if the caregiver got busy
                        record_offered(session, order, alert, actor=ACTOR, at=now, detail=detail)
                    elif (now - alert.raised_at).total_seconds() >= self.policy.escalate_after_s:
                        alert.escalation_reason = decision.reason
                        move_alert(
                            session, alert, AlertState.ESCALATED, actor=ACTOR, at=now, detail=detail
                        )
            except IntegrityError:
                log.info("caregiver of alert %s was booked elsewhere; retrying", decision.alert_id)
                self.wake()


def _explanation(decision: Decision) -> dict[str, object]:
    return {
        "reason": decision.reason,
        "considered": [
            {
                "caregiver_id": str(o.caregiver_id),
                "eta_s": round(o.eta_s, 1),
                "late_s": round(o.late_s, 1),
            }
            for o in decision.considered
        ],
    }
