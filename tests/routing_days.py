"""Routing days for the planner's tests: a street, caregivers, visits, and random
days with every rule at once (tests/unit/test_routing.py, tests/integration/
test_routing_quality.py)."""

from __future__ import annotations

import random

from dispatch.planning.model import (
    Break,
    Link,
    Plan,
    RoutingProblem,
    Stop,
    TimeWindow,
    Worker,
)

HOUR = 3600
DAY = TimeWindow(8 * HOUR, 18 * HOUR)


def line(*xs: float) -> list[list[int]]:
    """Locations on a street: a minute of travel per unit apart."""
    return [[int(abs(a - b) * 60) for b in xs] for a in xs]


def worker(id_: str, *, skills: frozenset[str] = frozenset({"basic_care"}), **kw: object) -> Worker:
    return Worker(id=id_, start_location=0, end_location=0, shift=DAY, skills=skills, **kw)  # type: ignore[arg-type]


def stop(id_: str, location: int, **kw: object) -> Stop:
    kw.setdefault("duration_s", 1800)
    kw.setdefault("window", DAY)
    return Stop(id=id_, location=location, **kw)  # type: ignore[arg-type]


def route(plan: Plan, worker_id: str) -> list[str]:
    found = plan.route_of(worker_id)
    return [s.stop_id for s in found.stops] if found else []


def start_of(plan: Plan, stop_id: str) -> list[int]:
    return [s.start_s for r in plan.routes for s in r.stops if s.stop_id == stop_id]


def random_vrptw(seed: int, n: int = 40, vehicles: int = 6) -> RoutingProblem:
    rng = random.Random(seed)
    points = [(50.0, 50.0)] + [(rng.uniform(0, 100), rng.uniform(0, 100)) for _ in range(n)]
    travel = [
        [int(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 * 10) for bx, by in points]
        for ax, ay in points
    ]
    stops = []
    for i in range(1, n + 1):
        opens = rng.randrange(0, 6000)
        stops.append(
            Stop(str(i), i, duration_s=100, window=TimeWindow(opens, opens + 1500), demand=10)
        )
    day = TimeWindow(0, 9000)
    workers = [Worker(f"v{v}", 0, 0, day, capacity=100) for v in range(vehicles)]
    return RoutingProblem(travel_s=travel, stops=stops, workers=workers)


def valid(problem: RoutingProblem, plan: Plan) -> bool:
    """Every planned stop once, in its window, reachable in order, within capacity."""
    seen: list[str] = []
    by_id = {s.id: s for s in problem.stops}
    for r in plan.routes:
        w = next(w for w in problem.workers if w.id == r.worker_id)
        t, here, load = w.shift.start, w.start_location, 0
        for planned in r.stops:
            s = by_id[planned.stop_id]
            t = max(t + problem.travel_s[here][s.location], s.window.start)
            if planned.start_s < t or planned.start_s > s.window.end:
                return False
            t, here, load = planned.start_s + s.duration_s, s.location, load + s.demand
            seen.append(s.id)
        if load > (w.capacity or 0) or t + problem.travel_s[here][w.end_location] > w.shift.end:
            return False
    return sorted(seen) == sorted(set(seen)) and set(seen) | set(plan.unplanned) == set(by_id)


def random_day(seed: int, n: int = 36, workers: int = 7) -> RoutingProblem:
    """A day with every rule at once: skills, breaks, a capped day, pairs, links,
    soft and hard windows, familiar caregivers."""
    rng = random.Random(seed)
    points = [(0.0, 0.0)] + [(rng.uniform(-30, 30), rng.uniform(-30, 30)) for _ in range(n)]
    travel = [[int(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 * 40) for bx, by in points]
              for ax, ay in points]  # fmt: skip
    team = [f"w{i}" for i in range(workers)]
    stops = []
    for i in range(1, n + 1):
        opens = rng.randrange(8 * HOUR, 15 * HOUR)
        stops.append(
            Stop(
                f"s{i}",
                i,
                duration_s=rng.choice([1200, 1800, 2700]),
                window=TimeWindow(opens, opens + rng.choice([HOUR, 2 * HOUR, 3 * HOUR])),
                skills=frozenset({"nursing"}) if i % 5 == 0 else frozenset({"care"}),
                workers_needed=2 if i % 7 == 0 else 1,
                preferred_workers=frozenset({rng.choice(team)}) if i % 3 == 0 else frozenset(),
                late_cost_per_s=1 if i % 4 == 0 else 0,
            )
        )
    links = [Link("s1", "s2", 600, 1800), Link("s3", "s4", 0, 0)]
    lunch = (Break(TimeWindow(11 * HOUR + 1800, 13 * HOUR + 1800), 1800),)
    crew = [
        Worker(
            name,
            0,
            0,
            TimeWindow(8 * HOUR, 18 * HOUR),
            skills=frozenset({"care", "nursing"}) if k < 2 else frozenset({"care"}),
            max_work_s=8 * HOUR + 1800,
            breaks=lunch,
        )
        for k, name in enumerate(team)
    ]
    return RoutingProblem(travel_s=travel, stops=stops, workers=crew, links=links)
