"""A realistic care day: the full planner against its OR-Tools baseline, and the
re-plan after an emergency diversion.

A city street's day, made with a fixed seed: 300 visits, 40 caregivers on e-bikes
in a district of 8 x 8 km, shifts of 8 to 9 hours with a 30-minute lunch between
11:30 and 13:30, at most 8.5 hours of work, 30% of visits needing two caregivers
at once, nursing and bathing skills held by some, and half the elders with a
caregiver they know. Both planners get the same time; every plan is checked by
the independent checker (tests/plan_check.py).

Then the re-plan: at 8:30 (nearly the whole day still to come) and again at
10:30 a caregiver is sent to an emergency and is free again 90 minutes later at
the alert's place. Visits started by then stay as they were
(left out, their caregivers starting from that door when they end, as the server
does), the rest are planned again from the morning's plan, and the table says how
long that took (the whole call: building the arrays and the search) and how many
visits moved to another caregiver.

    .venv/bin/python bench/homecare_day.py [--budget 10 60] [--replan-budget 1.5]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

from dispatch.planning import lns, solver
from dispatch.planning.model import (
    Break,
    Plan,
    Route,
    RoutingProblem,
    Stop,
    TimeWindow,
    Worker,
    moved_stops,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checker is in tests/
from tests.plan_check import violations

HOUR = 3600
EBIKE_M_PER_S = 4.0  # 14.4 km/h door to door, stairs and parking included
DETOUR = 1.3  # streets are not straight lines


def city_day(seed: int = 7, visits: int = 300, caregivers: int = 40) -> RoutingProblem:
    rng = random.Random(seed)
    stations = [(2000.0, 2000.0), (6000.0, 2000.0), (2000.0, 6000.0), (6000.0, 6000.0)]
    homes = [(rng.uniform(0, 8000), rng.uniform(0, 8000)) for _ in range(visits)]
    points = stations + homes
    travel = [
        [round(DETOUR * (abs(ax - bx) + abs(ay - by)) / EBIKE_M_PER_S) for bx, by in points]
        for ax, ay in points
    ]
    team = [f"c{i:02d}" for i in range(caregivers)]
    workers = []
    for i, name in enumerate(team):
        skills = {"care"}
        if i % 4 == 0:
            skills.add("nursing")
        if i % 3 == 0:
            skills.add("bathing")
        shift_start = rng.choice([7 * HOUR + 1800, 8 * HOUR, 8 * HOUR + 1800])
        workers.append(
            Worker(
                name,
                start_location=i % 4,
                end_location=i % 4,
                shift=TimeWindow(shift_start, shift_start + 9 * HOUR),
                skills=frozenset(skills),
                max_work_s=8 * HOUR + 1800,
                breaks=(Break(TimeWindow(11 * HOUR + 1800, 13 * HOUR), 1800),),
            )
        )
    stops = []
    for v in range(visits):
        kind = rng.random()
        if kind < 0.30:  # lifting, bathing: two caregivers at once
            skills, needed = frozenset({"bathing"} if kind < 0.12 else {"care"}), 2
        elif kind < 0.45:
            skills, needed = frozenset({"nursing"}), 1
        else:
            skills, needed = frozenset({"care"}), 1
        opens = rng.randrange(8 * HOUR, 16 * HOUR, 900)
        stops.append(
            Stop(
                id=f"v{v:03d}",
                location=4 + v,
                duration_s=rng.choice([1200, 1800, 1800, 2700]),
                window=TimeWindow(opens, opens + rng.choice([HOUR, 2 * HOUR])),
                skills=skills,
                workers_needed=needed,
                preferred_workers=frozenset(rng.sample(team, 2))
                if rng.random() < 0.5
                else frozenset(),
            )
        )
    return RoutingProblem(travel_s=travel, stops=stops, workers=workers)


def diverted(
    problem: RoutingProblem, plan: Plan, now_s: int, who: str, free_s: int, at: int
) -> tuple[RoutingProblem, Plan]:
    """The day as the server re-plans it at ``now_s``: visits started by then are
    left out (their caregivers start from that door when they end), nothing starts
    before now, and ``who`` is free again at ``free_s`` at location ``at``."""
    stops = {s.id: s for s in problem.stops}
    started = {p.stop_id for r in plan.routes for p in r.stops if p.start_s < now_s}
    busy_until: dict[str, tuple[int, int]] = {}
    for route in plan.routes:
        for p in route.stops:
            if p.stop_id in started:
                stop = stops[p.stop_id]
                busy_until[route.worker_id] = (p.start_s + stop.duration_s, stop.location)
    workers = []
    for w in problem.workers:
        start, place = max(now_s, w.shift.start), w.start_location
        if w.id in busy_until:
            start, place = max(start, busy_until[w.id][0]), busy_until[w.id][1]
        if w.id == who:
            start, place = free_s, at
        breaks = tuple(
            Break(TimeWindow(max(b.window.start, start), b.window.end), b.duration_s)
            for b in w.breaks
            if max(b.window.start, start) <= b.window.end
        )
        workers.append(
            replace(
                w,
                shift=TimeWindow(start, max(start, w.shift.end)),
                start_location=place,
                breaks=breaks,
            )
        )
    left = [
        replace(s, window=TimeWindow(max(s.window.start, now_s), max(s.window.end, now_s)))
        for s in problem.stops
        if s.id not in started
    ]
    keep = Plan(
        routes=tuple(
            Route(r.worker_id, tuple(p for p in r.stops if p.stop_id not in started), 0)
            for r in plan.routes
        ),
        unplanned=(),
    )
    return replace(problem, stops=left, workers=workers), keep


def describe(problem: RoutingProblem, plan: Plan, took: float) -> str:
    broken = violations(problem, plan)
    pairs = sum(1 for s in problem.stops if s.workers_needed == 2)
    return (
        f"{len(problem.stops) - len(plan.unplanned)}/{len(problem.stops)} planned "
        f"({pairs} two-caregiver) | travel {plan.travel_s / 3600:.1f} h | "
        f"{'valid' if not broken else 'BROKEN: ' + broken[0]} | {took:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--replan-budget", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    lns.warm_up()
    problem = city_day(args.seed)
    print("| planner | budget | planned | travel | check | time |")
    print("|---|---|---|---|---|---|")
    morning: Plan | None = None
    for budget in args.budget:
        for name, solve in (("search (lns)", lns.solve), ("OR-Tools", solver.solve)):
            clock = time.perf_counter()
            plan = solve(problem, budget)
            took = time.perf_counter() - clock
            print(f"| {name} | {budget:g} s | {describe(problem, plan, took)} |", flush=True)
            if name.startswith("search"):
                morning = plan
    assert morning is not None
    for hour, minute in ((8, 30), (10, 30)):
        replan(problem, morning, hour * HOUR + minute * 60, args.replan_budget)


def replan(problem: RoutingProblem, morning: Plan, now: int, budget: float) -> None:
    """A caregiver is called away at ``now`` (the one with most visits to come)
    and is free again 90 minutes later, across the district."""
    who = max(morning.routes, key=lambda r: sum(1 for p in r.stops if p.start_s >= now)).worker_id
    after, keep = diverted(problem, morning, now, who, now + 5400, at=4 + 150)
    clock = time.perf_counter()
    replanned = lns.solve(after, budget, warm_start=keep)
    took = time.perf_counter() - clock
    moved = moved_stops(keep, replanned)
    his = [p.stop_id for p in (keep.route_of(who) or Route(who, (), 0)).stops]
    theirs = sum(1 for s in his if s in moved)
    print(
        f"\nRe-plan at {now // HOUR}:{now % HOUR // 60:02d}, {who} diverted for 90 minutes "
        f"({len(his)} of their visits to come):"
    )
    print(f"- {describe(after, replanned, took)}")
    print(f"- visits moved to another caregiver: {len(moved)} ({theirs} of {who}'s)")
    before = sum(1 for s in after.stops if s.id in morning.unplanned)
    print(f"- left unplanned: {len(replanned.unplanned)} (before the diversion: {before})")


if __name__ == "__main__":
    main()
