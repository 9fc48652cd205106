"""Plans a day: the visits it holds, the caregivers' routes, and who must be told.

``schedule_day`` turns approved requests and the monthly regular visits into the
day's visit rows; ``plan_day`` solves the routes and writes them back. Run again
during the day (after an emergency diverted someone) it leaves visits done or
under way where they are and re-plans the rest from where each caregiver will be.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from dispatch.domain.lifecycle import (
    BUSY_ORDER_STATES,
    MOVABLE_VISIT_STATES,
    OrderState,
    RequestState,
    VisitState,
    advance_visit,
)
from dispatch.domain.model import GeoPoint
from dispatch.domain.workforce import working_day
from dispatch.homecare.coverage import due_today, month_of
from dispatch.homecare.menu import ServiceMenu
from dispatch.homecare.problem import (
    CaregiverDay,
    VisitToPlan,
    build_problem,
    familiar_map,
    local_window,
)
from dispatch.homecare.requests import recurrence_of
from dispatch.matching.travel import TravelModel
from dispatch.planning import backends
from dispatch.planning.model import Plan, PlannedStop, Route
from dispatch.store.credit_standing import standings
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Caregiver, Elder, Order, ServiceRequest, Visit

log = logging.getLogger(__name__)

# Visits still waiting for their day, for the coverage count.
WAITING_VISIT_STATES = frozenset({VisitState.SCHEDULED, VisitState.PLANNED, VisitState.IN_PROGRESS})


@dataclass(frozen=True)
class PlanOutcome:
    day: date
    planned: int
    unplanned: tuple[UUID, ...]
    changed: tuple[UUID, ...]  # caregivers whose route is not what it was
    travel_s: int
    solver: str


def schedule_day(session: Session, menu: ServiceMenu, day: date, tz: ZoneInfo) -> int:
    """Add the day's visits from approved requests and due regular visits; how many."""
    added = 0
    requests = session.exec(
        select(ServiceRequest).where(
            ServiceRequest.state == RequestState.APPROVED,
            col(ServiceRequest.first_day) <= day,
            or_(col(ServiceRequest.last_day).is_(None), col(ServiceRequest.last_day) >= day),
        )
    ).all()
    present = set(
        session.exec(
            select(Visit.request_id).where(Visit.day == day, col(Visit.request_id).isnot(None))
        )
    )
    for request in requests:
        if request.id in present or not recurrence_of(request).occurs_on(day):
            continue
        opens, closes = local_window(day, tz, request.window_start, request.window_end)
        session.add(
            Visit(
                request_id=request.id,
                elder_id=request.elder_id,
                service=request.item,
                day=day,
                window_start=opens,
                window_end=closes,
            )
        )
        added += 1
    for elder_id in regular_visits_due(session, menu, day):
        opens, closes = local_window(day, tz, *menu.regular_window)
        session.add(
            Visit(
                elder_id=elder_id,
                service=menu.regular_item,
                day=day,
                window_start=opens,
                window_end=closes,
            )
        )
        added += 1
    session.flush()
    return added


def month_visits(session: Session, first: date, last: date) -> tuple[set[UUID], set[UUID]]:
    """Elders visited in [first, last], and elders with a visit still to come in it."""
    visited = set(
        session.exec(
            select(Visit.elder_id).where(
                col(Visit.day).between(first, last), Visit.state == VisitState.DONE
            )
        )
    )
    waiting = set(
        session.exec(
            select(Visit.elder_id).where(
                col(Visit.day).between(first, last), col(Visit.state).in_(WAITING_VISIT_STATES)
            )
        )
    )
    return visited, waiting


def regular_visits_due(session: Session, menu: ServiceMenu, day: date) -> list[UUID]:
    flagged = list(session.exec(select(Elder.id).where(col(Elder.regular_visits).is_(True))))
    if not flagged:
        return []
    visited, _ = month_visits(session, *month_of(day))
    _, waiting = month_visits(session, day, month_of(day)[1])
    unvisited = [e for e in flagged if e not in visited and e not in waiting]
    last_seen = dict(
        session.exec(
            select(Visit.elder_id, func.max(Visit.day))
            .where(col(Visit.elder_id).in_(unvisited), Visit.state == VisitState.DONE)
            .group_by(col(Visit.elder_id))
        ).all()
    )
    return due_today(day, unvisited, last_seen)


@dataclass
class _Day:
    """What the solver needs, read in one transaction."""

    visits: list[VisitToPlan]
    caregivers: list[CaregiverDay]
    before: dict[UUID, tuple[UUID, ...]]  # each caregiver's route as it was


def _routes(visits: Iterable[Visit]) -> dict[UUID, tuple[UUID, ...]]:
    routes: dict[UUID, list[Visit]] = {}
    for v in visits:
        for who in (v.caregiver_id, v.partner_id):
            if who is not None and v.planned_start is not None:
                routes.setdefault(who, []).append(v)
    return {
        who: tuple(v.id for v in sorted(vs, key=lambda v: (v.planned_start, str(v.id))))
        for who, vs in routes.items()
    }


def _read_day(
    session: Session, menu: ServiceMenu, day: date, tz: ZoneInfo, now: datetime | None
) -> _Day:
    schedule_day(session, menu, day, tz)
    day_visits = list(session.exec(select(Visit).where(Visit.day == day)))
    before = _routes(v for v in day_visits if v.state is VisitState.PLANNED)
    for visit in day_visits:
        # A visit an emergency interrupted goes back to be planned again.
        if visit.needs_replan and visit.state is VisitState.IN_PROGRESS:
            visit.state = advance_visit(visit.state, VisitState.SCHEDULED)
            visit.started_at = None
        if visit.needs_replan:
            visit.needs_replan = False
            session.add(visit)
    movable = [v for v in day_visits if v.state in MOVABLE_VISIT_STATES]
    elders = {
        e.id: e
        for e in session.exec(
            select(Elder).where(col(Elder.id).in_({v.elder_id for v in day_visits}))
        )
    }
    history = session.exec(
        select(Visit.elder_id, Visit.caregiver_id)
        .where(
            col(Visit.elder_id).in_({v.elder_id for v in movable}),
            Visit.state == VisitState.DONE,
            col(Visit.caregiver_id).isnot(None),
        )
        .distinct()
    ).all()
    familiar = familiar_map([(e, c) for e, c in history if c is not None])
    visits = [
        VisitToPlan(
            id=v.id,
            item=v.service,
            place=GeoPoint(elders[v.elder_id].lat, elders[v.elder_id].lon),
            window_start=v.window_start,
            window_end=v.window_end,
            familiar=familiar.get(v.elder_id, frozenset()),
        )
        for v in movable
    ]
    busy = _busy(session, menu, day_visits, elders, now)
    rows = list(session.exec(select(Caregiver).where(col(Caregiver.active).is_(True))))
    # The day's record: expired certificates' skills and days off do not count.
    days = {
        c.id: working_day(
            c.skills,
            c.certificates,
            (c.shift_start, c.shift_end),
            c.weekly_shifts,
            c.leave_days,
            day,
        )
        for c in rows
    }
    standing = standings(session, [c.id for c in rows])
    caregivers = [
        CaregiverDay(
            id=c.id,
            skills=days[c.id].skills,
            shift_start=shift[0],
            shift_end=shift[1],
            base=_base(c),
            free_at=busy.get(c.id, (None, None))[0],
            free_from=busy.get(c.id, (None, None))[1],
            credit_bonus_s=standing[c.id].bonus_s if c.id in standing else 0.0,
        )
        for c in rows
        if (shift := days[c.id].shift) is not None
    ]
    return _Day(visits, caregivers, before)


def _base(c: Caregiver) -> GeoPoint:
    if c.station_lat is not None and c.station_lon is not None:
        return GeoPoint(c.station_lat, c.station_lon)
    return GeoPoint(c.home_lat, c.home_lon)


def _busy(
    session: Session,
    menu: ServiceMenu,
    day_visits: list[Visit],
    elders: Mapping[UUID, Elder],
    now: datetime | None,
) -> dict[UUID, tuple[GeoPoint, datetime]]:
    """Caregivers not free now: where and when they will be."""
    if now is None:
        return {}
    busy: dict[UUID, tuple[GeoPoint, datetime]] = {}
    for v in day_visits:
        if v.state is VisitState.IN_PROGRESS and v.started_at is not None:
            ends = max(now, v.started_at + timedelta(seconds=menu.item(v.service).duration_s))
            elder = elders[v.elder_id]
            for who in (v.caregiver_id, v.partner_id):
                if who is not None:
                    busy[who] = (GeoPoint(elder.lat, elder.lon), ends)
    on_emergency = session.exec(
        select(Order.caregiver_id, Alert.lat, Alert.lon)
        .join(Alert, col(Alert.id) == col(Order.alert_id))
        .where(col(Order.state).in_(BUSY_ORDER_STATES - {OrderState.OFFERED}))
    ).all()
    for who, lat, lon in on_emergency:
        busy[who] = (GeoPoint(lat, lon), now + timedelta(seconds=menu.diversion_s))
    return busy


def _write(
    session: Session, plan: Plan, day: date, tz: ZoneInfo, visit_ids: Iterable[UUID]
) -> tuple[int, list[UUID]]:
    """Put each planned visit on its route; what is left off goes back to scheduled."""
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    placed: dict[UUID, Visit] = {}
    for route in plan.routes:
        for position, stop in enumerate(route.stops, start=1):
            visit_id = UUID(stop.stop_id)
            visit = placed.get(visit_id) or session.get(Visit, visit_id)
            if visit is None or (
                visit_id not in placed and visit.state not in MOVABLE_VISIT_STATES
            ):
                continue  # started meanwhile: the caregiver's app has the last word
            if visit_id in placed:
                visit.partner_id = UUID(route.worker_id)
                continue
            visit.state = advance_visit(visit.state, VisitState.PLANNED)
            visit.caregiver_id, visit.partner_id = UUID(route.worker_id), None
            visit.sequence = position  # on the lead caregiver's route
            visit.planned_start = midnight + timedelta(seconds=stop.start_s)
            placed[visit_id] = visit
            session.add(visit)
    unplanned = []
    for visit_id in visit_ids:
        if visit_id in placed:
            continue
        visit = session.get(Visit, visit_id)
        if visit is not None and visit.state in MOVABLE_VISIT_STATES:
            if visit.state is VisitState.PLANNED:
                visit.state = advance_visit(visit.state, VisitState.SCHEDULED)
            visit.caregiver_id = visit.partner_id = visit.planned_start = None
            visit.sequence = None
            session.add(visit)
            unplanned.append(visit_id)
    return len(placed), unplanned


def plan_day(
    db: Database,
    menu: ServiceMenu,
    travel: TravelModel,
    day: date,
    tz: ZoneInfo,
    *,
    now: datetime | None = None,
    time_limit_s: float | None = None,
    solve: Callable[..., Plan] = backends.plan,
) -> PlanOutcome:
    """Plan (or re-plan from ``now``) the day's routes and write them to the visits.

    ``solve`` is :func:`backends.plan` or a stand-in with its signature that runs it
    elsewhere (the server's :class:`~dispatch.planning.pool.SolverPool`).
    """
    with db.session() as session:
        read = _read_day(session, menu, day, tz, now)
    problem = build_problem(day, tz, read.visits, read.caregivers, menu, travel, now=now)
    # The routes as they were seed the search: a re-plan changes what it must.
    previous = Plan(
        routes=tuple(
            Route(str(c), tuple(PlannedStop(str(v), 0, 0) for v in visits), 0)
            for c, visits in read.before.items()
        ),
        unplanned=(),
    )
    limit = menu.time_limit_s if time_limit_s is None else time_limit_s
    plan = solve(problem, limit, warm_start=previous if read.before else None)
    with db.session() as session:
        planned, unplanned = _write(session, plan, day, tz, [v.id for v in read.visits])
        session.flush()
        after = _routes(
            session.exec(select(Visit).where(Visit.day == day, Visit.state == VisitState.PLANNED))
        )
    changed = sorted(
        (c for c in set(read.before) | set(after) if read.before.get(c) != after.get(c)), key=str
    )
    log.info(
        "planned %s: %d visits on routes, %d left unplanned, %d routes changed",
        day,
        planned,
        len(unplanned),
        len(changed),
    )
    return PlanOutcome(day, planned, tuple(unplanned), tuple(changed), plan.travel_s, plan.solver)
