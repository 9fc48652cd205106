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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, and_, col, func, or_, select

from dispatch.background import cancelling
from dispatch.domain.actor import DISPATCHER, OFFER_TIMER
from dispatch.domain.catalog import Catalog
from dispatch.domain.lifecycle import (
    ACTIVE_ORDER_STATES,
    OPEN_ALERT_STATES,
    AlertState,
    OrderState,
    VisitState,
)
from dispatch.domain.model import GeoPoint, Shift, TransportMode
from dispatch.domain.workforce import working_day
from dispatch.emergency import offers
from dispatch.live.bus import LiveBus
from dispatch.live.outbox import BATCH as OUTBOX_BATCH
from dispatch.live.outbox import Claim, Outbox
from dispatch.matching.matcher import (
    Candidate,
    Decision,
    Escalation,
    MatchPolicy,
    MatchSnapshot,
    Option,
    WaitingAlert,
    assign,
)
from dispatch.matching.travel import TravelModel
from dispatch.store.audit import move_alert, move_order
from dispatch.store.credit_standing import standings
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Caregiver, Order, Visit

log = logging.getLogger(__name__)
CLAIM_BATCH = 500  # new alerts a round claims at most
RETRY_BATCH = 100  # and alerts tried before (escalated, short of a caregiver)
ACTOR = DISPATCHER


@dataclass(frozen=True)
class DispatchPolicy:
    offer_timeout_s: float = 30.0
    claim_s: float = 15.0
    position_max_age_s: float = 120.0  # apps report every 10-30 s; silence means gone
    search_radius_m: float = 10_000.0  # the widest search, for alerts already late
    min_search_radius_m: float = 3_000.0
    candidates_per_alert: int = 30  # GEOSEARCH COUNT: never scan the whole city
    # An alert whose own data breaks a round is escalated to the operators and left
    # out of rounds this long (then tried again: a fixed configuration may take it).
    failed_hold_s: float = 60.0
    match: MatchPolicy = field(default_factory=MatchPolicy)


# Alerts that may wait for a caregiver: not yet offered, or short of one.
_WAITING = (AlertState.RAISED, AlertState.DISPATCHING, AlertState.ESCALATED)  # new first
_UNDER_WAY = (AlertState.OFFERED, AlertState.ACCEPTED, AlertState.EN_ROUTE, AlertState.ON_SCENE)
# Failures of the services themselves: the round is retried as a whole. Anything
# else may be one alert's doing, and is looked for alert by alert.
_DEGRADED = (RedisConnectionError, RedisTimeoutError, OSError, OperationalError)


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
        self._multi = [c for c, t in catalog.alert_types.items() if t.caregivers > 1]
        self._by_operator = [c for c, t in catalog.alert_types.items() if not t.auto_dispatch]

    def wake(self) -> None:
        """Ask for a round now (a new alert, a declined offer)."""
        self._wake.set()

    async def run(self) -> None:
        await self.warm_up()
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancel that lands as the wake-up does, and the loop would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.run_round()
            except (RedisError, OSError, OperationalError) as exc:
                if cancelling():
                    raise
                # Degraded, not broken: claims lapse and the next round retries.
                log.warning("dispatch round failed, retrying: %s", exc)

    async def warm_up(self) -> None:
        """Match made-up alerts once, storing nothing, before the first real one.

        The first round paid for the Redis scripts' loading, the queries'
        compilation and the matcher's first calls: 0.3-1 s for the first press
        after a start (measured with bench/press_to_push.py).
        """
        started = time.perf_counter()
        now = datetime.now(UTC)
        alert_type = next(iter(self.catalog.alert_types.values()))
        made_up = WaitingAlert(
            alert_id=UUID(int=0), position=GeoPoint(0.0, 0.0), alert_type=alert_type, raised_at=now
        )
        try:
            another = replace(made_up, alert_id=UUID(int=1), slots=2)
            snapshot = await self._snapshot([made_up, another], now)
            await asyncio.to_thread(assign, snapshot, self.travel, self.policy.match)
        except Exception:  # only slower: the rounds must start whatever happened here
            if cancelling():
                raise
            log.exception("dispatcher warm-up failed (the first round will be slower)")
            return
        log.info("dispatcher warmed up in %.0f ms", (time.perf_counter() - started) * 1000)

    async def run_round(self) -> None:
        now = datetime.now(UTC)
        waiting, wrote = await self.db.run(self._expire_and_claim, now)
        published = False
        if waiting:
            try:
                published = await self._match_and_offer(waiting, now)
            except _DEGRADED:
                raise
            except Exception:
                log.exception("dispatch round of %d alerts failed; trying each alone", len(waiting))
                await self._match_one_by_one(waiting, now)
        if wrote and not published:
            # A round that wrote nothing has nothing to publish: the wake-up that
            # comes back from the stream for every raised alert (after the
            # gateway's own) found it claimed, and paid an empty claim
            # transaction of the outbox's for it. What others write they publish.
            # (Claiming the new alerts' steps in this round's first transaction
            # and publishing them before matching was tried: it took the surge's
            # press -> decision p99 from 13 s to 35 s, docs/performance.md.)
            await self.outbox.flush()

    async def _match_and_offer(self, waiting: Sequence[WaitingAlert], now: datetime) -> bool:
        """Match and offer; True when every event of the round is published."""
        snapshot = await self._snapshot(waiting, now)
        decisions = await asyncio.to_thread(assign, snapshot, self.travel, self.policy.match)
        claimed, complete = await self.db.run(self._apply, decisions, now)
        # The offers' events were claimed in the round's own transaction: they go
        # to Redis now, not after an outbox pass of their own.
        published = await self.outbox.publish_claimed(claimed)
        return published and complete

    async def _match_one_by_one(self, waiting: Sequence[WaitingAlert], now: datetime) -> None:
        """Isolate what broke a round: each alert alone; one that fails alone is
        escalated with the reason, and the others go on."""
        for alert in waiting:
            try:
                await self._match_and_offer([alert], now)
            except _DEGRADED:
                raise
            except Exception as exc:
                await self.db.run(self._escalate_failed, alert.alert_id, exc, now)

    def _escalate_failed(self, alert_id: UUID, exc: Exception, now: datetime) -> None:
        """Put an alert the dispatcher cannot handle before the operators, saying why."""
        log.error("alert %s cannot be dispatched: %r", alert_id, exc, exc_info=exc)
        with self.db.session() as session:
            alert = session.get(Alert, alert_id, with_for_update=True)
            if alert is None or alert.state not in OPEN_ALERT_STATES:
                return
            alert.claimed_until = now + timedelta(seconds=self.policy.failed_hold_s)
            alert.escalation_reason = Escalation.CANNOT_DISPATCH.value
            session.add(alert)
            if alert.state in (AlertState.RAISED, AlertState.DISPATCHING, AlertState.OFFERED):
                detail = {
                    "reason": f"{type(exc).__name__}: {exc}"[:500],
                    "escalation": Escalation.CANNOT_DISPATCH.value,
                    "considered": [],
                }
                move_alert(session, alert, AlertState.ESCALATED, actor=ACTOR, at=now, detail=detail)

    # -- steps, each one transaction --------------------------------------------

    def _expire_and_claim(self, now: datetime) -> tuple[list[WaitingAlert], bool]:
        """Expire overdue offers, then claim the alerts waiting: one transaction.

        An alert whose offer expired waits again, and is claimed in this round.
        Returns the alerts claimed, and whether any step was written.
        """
        with self.db.session() as session:
            expired = self._expire_offers(session, now)
            waiting, unreadable = self._claim_waiting(session, now)
        for alert_id, error in unreadable:
            self._escalate_failed(alert_id, error, now)
        return waiting, bool(expired or waiting or unreadable)

    def _expire_offers(self, session: Session, now: datetime) -> int:
        stale = session.exec(
            select(Order)
            .where(Order.state == OrderState.OFFERED, Order.expires_at < now)
            .with_for_update(skip_locked=True)
        ).all()
        for order in stale:
            alert = session.get(Alert, order.alert_id)
            assert alert is not None  # foreign key
            move_order(session, order, alert, OrderState.EXPIRED, actor=OFFER_TIMER, at=now)
        if stale:
            session.flush()  # the claim below sees these alerts waiting again
            log.info("%d offers expired", len(stale))
        return len(stale)

    def _claim_waiting(
        self, session: Session, now: datetime
    ) -> tuple[list[WaitingAlert], list[tuple[UUID, Exception]]]:
        """The alerts waiting, claimed; and those that cannot be read, with why."""
        short_handed = and_(
            col(Alert.alert_type).in_(self._multi), col(Alert.state).in_(_UNDER_WAY)
        )
        claimable = (
            or_(col(Alert.claimed_until).is_(None), col(Alert.claimed_until) < now),
            # Call-back-first alerts wait for an operator, not the matcher.
            col(Alert.alert_type).not_in(self._by_operator),
        )
        # Alerts not yet decided first, then a share of those tried before, the
        # least recently tried first: in a surge, hundreds of escalated alerts
        # waiting for a caregiver to come free filled every round's claim, so
        # new alerts waited minutes for a first decision and each round grew.
        new = session.exec(
            select(Alert)
            .where(Alert.state == AlertState.RAISED, *claimable)
            .order_by(col(Alert.raised_at))
            .limit(CLAIM_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        again = session.exec(
            select(Alert)
            .where(
                or_(col(Alert.state).in_(_WAITING[1:]), short_handed),
                *claimable,
            )
            .order_by(col(Alert.claimed_until).nulls_first(), col(Alert.raised_at))
            .limit(RETRY_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        alerts = [*new, *again]
        if not alerts:
            return [], []
        ids = [a.id for a in alerts]
        orders = session.exec(
            select(Order.alert_id, Order.caregiver_id, Order.state).where(
                col(Order.alert_id).in_(ids)
            )
        ).all()
        elders = {a.elder_id for a in alerts if a.elder_id}
        helped = session.exec(
            select(Alert.elder_id, Order.caregiver_id)
            .join(Order, col(Order.alert_id) == col(Alert.id))
            .where(col(Alert.elder_id).in_(elders), Order.state == OrderState.COMPLETED)
        ).all()
        waiting = []
        unreadable: list[tuple[UUID, Exception]] = []
        for alert in alerts:
            try:  # a type no longer configured, a position out of range: this alert only
                alert_type = self.catalog.alert_types[alert.alert_type]
                position = GeoPoint(alert.lat, alert.lon)
            except (KeyError, ValueError) as exc:
                unreadable.append((alert.id, exc))
                continue
            tried = frozenset(c for a, c, _ in orders if a == alert.id)
            active = sum(1 for a, _, s in orders if a == alert.id and s in ACTIVE_ORDER_STATES)
            slots = alert_type.caregivers - active
            if slots < 1:
                continue
            alert.claimed_until = now + timedelta(seconds=self.policy.claim_s)
            session.add(alert)
            if alert.state == AlertState.RAISED:
                move_alert(session, alert, AlertState.DISPATCHING, actor=ACTOR, at=now)
            waiting.append(
                WaitingAlert(
                    alert_id=alert.id,
                    position=position,
                    alert_type=alert_type,
                    raised_at=alert.raised_at,
                    excluded=tried,
                    slots=slots,
                    familiar=frozenset(c for e, c in helped if e == alert.elder_id),
                )
            )
        return waiting, unreadable

    async def _snapshot(self, waiting: Sequence[WaitingAlert], now: datetime) -> MatchSnapshot:
        epoch_now = time.time()
        searches = [
            (a.position.lat, a.position.lon, self._search_radius_m(a, now)) for a in waiting
        ]
        found = await self.bus.nearby_many(searches, self.policy.candidates_per_alert)
        nearby = {
            UUID(cid): hit
            for cid, hit in found.positions.items()
            if epoch_now - hit.seen_at <= self.policy.position_max_age_s
        }
        fresh = {str(cid): cid for cid in nearby}
        alerts = [
            replace(alert, nearby=tuple(fresh[cid] for cid in ids if cid in fresh))
            for alert, ids in zip(waiting, found.ids, strict=True)
        ]
        local_now = now.astimezone(self.tz)
        midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        caregivers, busy, visiting, today, bonus = await self.db.run(
            self._caregiver_states, list(nearby), midnight
        )
        # Today's record: expired certificates' skills and days off do not count.
        days = {
            c.id: working_day(
                c.skills,
                c.certificates,
                (c.shift_start, c.shift_end),
                c.weekly_shifts,
                c.leave_days,
                local_now.date(),
            )
            for c in caregivers
        }
        candidates = []
        for c in caregivers:
            if (shift := days[c.id].shift) is None:
                continue
            try:
                candidates.append(
                    Candidate(
                        caregiver_id=c.id,
                        position=GeoPoint(nearby[c.id].lat, nearby[c.id].lon),
                        skills=days[c.id].skills,
                        shift=Shift(*shift),
                        mode=TransportMode(c.transport),
                        position_age_s=max(0.0, epoch_now - nearby[c.id].seen_at),
                        busy=c.id in busy,
                        on_visit=c.id in visiting,
                        orders_today=today.get(c.id, 0),
                        credit_bonus_s=bonus.get(c.id, 0.0),
                    )
                )
            except ValueError as exc:  # a row the domain refuses: one caregiver, not the round
                log.error("caregiver %s left out of dispatch: %s", c.id, exc)
        return MatchSnapshot(local_now, tuple(alerts), tuple(candidates))

    def _search_radius_m(self, alert: WaitingAlert, now: datetime) -> float:
        """Far enough to find everyone who can still be on time, and then some.

        Redis sorts every member inside the radius, so a city-wide radius costs
        more the larger the city; an alert already late searches the whole radius
        for its best late option.
        """
        left_s = (alert.deadline - now).total_seconds()
        if left_s <= 0:
            return self.policy.search_radius_m
        reach = max(self.travel.reach_m(left_s, mode) for mode in TransportMode)
        return min(self.policy.search_radius_m, max(self.policy.min_search_radius_m, 1.5 * reach))

    def _caregiver_states(
        self, ids: list[UUID], since: datetime
    ) -> tuple[list[Caregiver], set[UUID], set[UUID], dict[UUID, int], dict[UUID, float]]:
        """Active caregivers among ``ids`` (less those held for credit), who of them is
        busy or visiting, served today, and their credit bonus."""
        if not ids:
            return [], set(), set(), {}, {}
        with self.db.read() as session:
            caregivers = session.exec(
                select(Caregiver).where(
                    col(Caregiver.id).in_(ids),
                    col(Caregiver.active).is_(True),
                    col(Caregiver.on_duty).is_(True),
                )
            ).all()
            busy = set(
                session.exec(
                    select(Order.caregiver_id).where(
                        col(Order.caregiver_id).in_(ids), col(Order.state).in_(ACTIVE_ORDER_STATES)
                    )
                ).all()
            )
            on_visits = session.exec(
                select(Visit.caregiver_id, Visit.partner_id).where(
                    or_(col(Visit.caregiver_id).in_(ids), col(Visit.partner_id).in_(ids)),
                    Visit.state == VisitState.IN_PROGRESS,
                )
            ).all()
            visiting = {c for pair in on_visits for c in pair if c is not None}
            served = session.exec(
                select(Order.caregiver_id, func.count())
                .where(
                    col(Order.caregiver_id).in_(ids),
                    Order.offered_at >= since,
                    col(Order.state).in_(_SERVED),
                )
                .group_by(col(Order.caregiver_id))
            ).all()
            standing = standings(session, ids)
        # A low credit score holds a caregiver back until a supervisor clears it.
        held = {cid for cid, s in standing.items() if s.held and s.cleared_at is None}
        bonus = {cid: s.bonus_s for cid, s in standing.items() if s.bonus_s}
        return (
            [c for c in caregivers if c.id not in held],
            busy,
            visiting,
            {cid: int(n) for cid, n in served},
            bonus,
        )

    def _apply(self, decisions: Sequence[Decision], now: datetime) -> tuple[Claim, bool]:
        """Every decision of the round in one transaction, each in a savepoint.

        One transaction per decision cost a surge round of 500 alerts 500 commits
        (on SQLite, 500 turns of the single write lock). A decision that fails is
        rolled back alone and its alert escalated after the commit.

        The same transaction claims the live events waiting in the outbox, the
        round's offers with them. Returns those and whether they are all the
        round wrote (False: more to publish, by a pass of the outbox).
        """
        failed: list[tuple[UUID, Exception]] = []
        with self.db.session() as session:
            for decision in decisions:
                try:
                    with session.begin_nested():
                        self._apply_one(session, decision, now)
                except _DEGRADED:
                    raise
                except Exception as exc:  # this decision's savepoint is rolled back
                    failed.append((decision.alert_id, exc))
            claim = self.outbox.claim_in(session)
        for alert_id, error in failed:
            self._escalate_failed(alert_id, error, now)
        return claim, not failed and len(claim.records) < OUTBOX_BATCH

    def _apply_one(self, session: Session, decision: Decision, now: datetime) -> None:
        alert = session.get(Alert, decision.alert_id, with_for_update=True)
        if alert is None or alert.state not in OPEN_ALERT_STATES:
            return  # cancelled or resolved while we matched
        # Tried now: it queues behind those tried longer ago for the next retry.
        alert.claimed_until = None if decision.chosen else now
        session.add(alert)
        detail = _explanation(decision)
        if decision.escalation is not None:
            alert.escalation_reason = decision.escalation.value
        for option in decision.chosen:
            self._offer(session, alert, option, now, detail)
        if not decision.chosen and alert.state == AlertState.DISPATCHING:
            move_alert(session, alert, AlertState.ESCALATED, actor=ACTOR, at=now, detail=detail)
            log.info(
                "alert %s from %s goes to the operators: %s",
                str(alert.id)[:8],
                alert.device_id,
                alert.escalation_reason,
            )

    def _offer(
        self,
        session: Session,
        alert: Alert,
        option: Option,
        now: datetime,
        detail: dict[str, object],
    ) -> None:
        order = offers.offer(
            session,
            alert,
            option.caregiver_id,
            eta_s=option.eta_s,
            distance_m=option.distance_m,
            at=now,
            timeout_s=self.policy.offer_timeout_s,
            actor=ACTOR,
            detail={**detail, "chosen": option.explain()},
        )
        if order is None:
            log.info(
                "caregiver %s was booked elsewhere; alert %s waits", option.caregiver_id, alert.id
            )
            self.wake()
            return
        log.info(
            "alert %s from %s offered to caregiver %s, %.0f m away, ETA %.0f s",
            str(alert.id)[:8],
            alert.device_id,
            str(option.caregiver_id)[:8],
            option.distance_m,
            option.eta_s,
        )


# Orders that count as an emergency served today (for load balancing).
_SERVED = (OrderState.ACCEPTED, OrderState.EN_ROUTE, OrderState.ON_SCENE, OrderState.COMPLETED)


def _explanation(decision: Decision) -> dict[str, object]:
    return {
        "reason": decision.reason,
        "escalation": decision.escalation.value if decision.escalation else None,
        "considered": [
            {
                "caregiver_id": str(o.caregiver_id),
                "eta_s": round(o.eta_s, 1),
                "late_s": round(o.late_s, 1),
                "cost_s": round(o.cost_s, 1),
                "notes": list(o.notes),
            }
            for o in decision.considered
        ],
    }
