"""Turns a day's visits and caregivers into the planner's RoutingProblem (pure).

Times become seconds from the local midnight of the planning day; places become
indices into one travel matrix from the same travel model as emergencies (by
e-bike, the usual community caregiver's vehicle). Re-planning during the day:
visits done or under way are not in the problem at all; their caregiver starts
from that elder's door when the visit ends, and a caregiver on an emergency
starts from the alert's place once it is expected to be over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from uuid import UUID
from zoneinfo import ZoneInfo

from dispatch.domain.model import GeoPoint, TransportMode
from dispatch.homecare.menu import ServiceMenu
from dispatch.matching.travel import TravelModel
from dispatch.planning.model import Break, RoutingProblem, Stop, TimeWindow, Worker

DAY_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class VisitToPlan:
    id: UUID
    item: str
    place: GeoPoint
    window_start: datetime
    window_end: datetime
    familiar: frozenset[UUID] = frozenset()  # caregivers the elder knows


@dataclass(frozen=True, slots=True)
class CaregiverDay:
    id: UUID
    skills: frozenset[str]
    shift_start: time
    shift_end: time
    base: GeoPoint  # home or service station: the route starts and ends here
    # Re-planning: where and from when the caregiver is free again, if busy now.
    free_at: GeoPoint | None = None
    free_from: datetime | None = None
    credit_bonus_s: float = 0.0  # of the latest month applied (dispatch/store/credit_standing.py)


@dataclass
class _Places:
    points: list[GeoPoint] = field(default_factory=list)
    index: dict[GeoPoint, int] = field(default_factory=dict)

    def of(self, point: GeoPoint) -> int:
        if point not in self.index:
            self.index[point] = len(self.points)
            self.points.append(point)
        return self.index[point]


def seconds_into(day: date, tz: ZoneInfo, at: datetime) -> int:
    midnight = datetime.combine(day, time(0), tzinfo=tz)
    return round((at - midnight).total_seconds())


def _clock_s(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _shift(c: CaregiverDay, day: date, tz: ZoneInfo, now: datetime | None) -> TimeWindow:
    start, end = _clock_s(c.shift_start), _clock_s(c.shift_end)
    if end <= start:  # a night shift: its evening part belongs to this day
        end += DAY_S
    if c.free_from is not None:
        start = max(start, seconds_into(day, tz, c.free_from))
    if now is not None:
        start = max(start, seconds_into(day, tz, now))
    return TimeWindow(start, max(start, end))


def _lunch(menu: ServiceMenu, shift: TimeWindow) -> tuple[Break, ...]:
    lunch = menu.lunch
    if lunch is None or shift.end - shift.start <= lunch.after_shift_s:
        return ()
    opens, closes = _clock_s(lunch.window[0]), _clock_s(lunch.window[1]) - lunch.duration_s
    opens = max(opens, shift.start)
    if closes < opens or closes + lunch.duration_s > shift.end:
        return ()
    return (Break(TimeWindow(opens, closes), lunch.duration_s),)


def build_problem(
    day: date,
    tz: ZoneInfo,
    visits: Sequence[VisitToPlan],
    caregivers: Sequence[CaregiverDay],
    menu: ServiceMenu,
    travel: TravelModel,
    *,
    now: datetime | None = None,
    mode: TransportMode = TransportMode.EBIKE,
) -> RoutingProblem:
    """The problem for ``day``; with ``now``, nothing is planned to start before it,
    and a visit whose window has closed is left out (unplanned: the operator agrees a
    new time with the elder, rather than a cleaning being planned at 3 a.m.)."""
    places = _Places()
    earliest = seconds_into(day, tz, now) if now is not None else 0
    stops = []
    for v in visits:
        if now is not None and v.window_end <= now:
            continue
        item = menu.item(v.item)
        opens = max(seconds_into(day, tz, v.window_start), earliest, 0)
        closes = max(opens, seconds_into(day, tz, v.window_end))
        stops.append(
            Stop(
                id=str(v.id),
                location=places.of(v.place),
                duration_s=item.duration_s,
                window=TimeWindow(opens, closes),
                skills=item.skills,
                workers_needed=item.workers,
                preferred_workers=frozenset(str(c) for c in v.familiar),
            )
        )
    workers = []
    for c in caregivers:
        shift = _shift(c, day, tz, now)
        workers.append(
            Worker(
                id=str(c.id),
                start_location=places.of(c.free_at or c.base),
                end_location=places.of(c.base),
                shift=shift,
                skills=c.skills,
                max_work_s=menu.max_work_s,
                breaks=_lunch(menu, shift),
                credit_bonus_s=round(c.credit_bonus_s),
            )
        )
    points = places.points
    matrix = [
        [0 if a == b else round(travel.travel_time_s(a, b, mode)) for b in points] for a in points
    ]
    return RoutingProblem(travel_s=matrix, stops=stops, workers=workers)


def local_window(day: date, tz: ZoneInfo, start: time, end: time) -> tuple[datetime, datetime]:
    """A local time-of-day window on ``day``, as aware datetimes."""
    return datetime.combine(day, start, tzinfo=tz), datetime.combine(day, end, tzinfo=tz)


def familiar_map(history: Sequence[tuple[UUID, UUID]]) -> Mapping[UUID, frozenset[UUID]]:
    """elder -> caregivers who have visited them, from (elder, caregiver) pairs."""
    out: dict[UUID, set[UUID]] = {}
    for elder, caregiver in history:
        out.setdefault(elder, set()).add(caregiver)
    return {e: frozenset(c) for e, c in out.items()}
