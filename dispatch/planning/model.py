"""The routing problem the planner solves, and the plan it returns.

Pure values, no I/O: the service layer builds a :class:`RoutingProblem` from the
database and the travel model; a solver turns it into a :class:`Plan`. Times are
whole seconds from the start of the planning day, travel is an integer matrix
over location indices, so the same model carries a city's day and a Solomon
benchmark instance alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TimeWindow:
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"time window ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True, slots=True)
class Break:
    """A break of ``duration_s`` that must start inside ``window``."""

    window: TimeWindow
    duration_s: int


@dataclass(frozen=True, slots=True)
class Stop:
    """A visit to plan: where, how long, when, and who may do it."""

    id: str
    location: int  # index into RoutingProblem.travel_s
    duration_s: int
    window: TimeWindow
    skills: frozenset[str] = frozenset()  # a worker must hold every one of them
    workers_needed: int = 1  # 2: two caregivers start together (lifting, bathing)
    demand: int = 0  # capacity use (meals carried; the capacitated benchmarks)
    preferred_workers: frozenset[str] = frozenset()  # the caregivers the elder knows
    # Re-planning: a visit done or under way stays with its worker at its time.
    pinned_worker: str | None = None
    pinned_start: int | None = None
    # 0: the window's end is hard. Else starting late is allowed at this cost per
    # second late, in the same units as travel (the benchmark's tardiness).
    late_cost_per_s: int = 0

    def __post_init__(self) -> None:
        if self.duration_s < 0:
            raise ValueError(f"stop {self.id}: negative duration")
        if self.workers_needed not in (1, 2):
            raise ValueError(f"stop {self.id}: needs 1 or 2 workers")


@dataclass(frozen=True, slots=True)
class Worker:
    """A caregiver's working day: where it starts and ends, when, and what they can do."""

    id: str
    start_location: int
    end_location: int
    shift: TimeWindow
    skills: frozenset[str] = frozenset()
    max_work_s: int | None = None  # travel + service + waiting, start to end
    breaks: tuple[Break, ...] = ()
    capacity: int | None = None
    # A good credit score (config/credit.yaml): seconds of travel forgiven per visit.
    credit_bonus_s: int = 0


@dataclass(frozen=True, slots=True)
class Link:
    """Two stops done by two different workers, the second starting between
    ``min_lag_s`` and ``max_lag_s`` after the first (0 and 0: together); both
    planned or neither. Two services of one elder by people of different skills."""

    first: str
    second: str
    min_lag_s: int = 0
    max_lag_s: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_lag_s <= self.max_lag_s:
            raise ValueError(f"link {self.first}->{self.second}: need 0 <= min lag <= max lag")


@dataclass(frozen=True)
class RoutingProblem:
    travel_s: Sequence[Sequence[int]]  # travel_s[a][b]: seconds from location a to b
    stops: Sequence[Stop]
    workers: Sequence[Worker]
    links: Sequence[Link] = ()
    # Cost of leaving a stop unplanned, in seconds of travel (large: plan everything possible).
    unplanned_penalty_s: int = 1_000_000
    # Seconds of travel the planner gives up to keep an elder with a caregiver they know.
    familiarity_bonus_s: int = 600
    # Re-planning from a previous plan: seconds of travel given up to leave a visit
    # with the caregiver it had (each visit moved is a phone call and a surprise).
    move_cost_s: int = 900
    # Cost per second of the largest lateness of any soft-window stop (fairness: no
    # one waits far longer than the rest); 0 leaves only the total lateness.
    worst_late_cost_per_s: int = 0


@dataclass(frozen=True, slots=True)
class PlannedStop:
    stop_id: str
    arrival_s: int
    start_s: int  # arrival plus any wait for the window to open


@dataclass(frozen=True, slots=True)
class Route:
    worker_id: str
    stops: tuple[PlannedStop, ...]
    travel_s: int


@dataclass(frozen=True)
class Plan:
    routes: tuple[Route, ...]
    unplanned: tuple[str, ...]  # stop ids no worker could take
    travel_s: int = 0
    solver: str = ""  # which backend produced it
    notes: tuple[str, ...] = field(default_factory=tuple)

    def route_of(self, worker_id: str) -> Route | None:
        return next((r for r in self.routes if r.worker_id == worker_id), None)


def moved_stops(before: Plan, after: Plan) -> set[str]:
    """Stops planned in both whose caregivers changed: the visits a re-plan moved."""

    def who(plan: Plan) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for route in plan.routes:
            for stop in route.stops:
                out.setdefault(stop.stop_id, set()).add(route.worker_id)
        return out

    old, new = who(before), who(after)
    return {s for s in old.keys() & new.keys() if old[s] != new[s]}
