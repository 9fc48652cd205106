"""Plans the full model by ruin and recreate (pure: a function of the problem).

Every rule of the model (time windows hard or soft, service times, skills,
shifts, breaks, the longest working day, start and end places, capacity, the
familiar caregiver, two caregivers at once, linked visits with a lag, pinned
visits, a warm start that prefers to leave visits where they were) is carried by
one search: the schedule of fixed routes is the earliest one meeting every rule
(kernel.py); the search removes a few visits (strings of neighbouring visits, as
in Christiaens and Vanden Berghe's SISR; random ones; the latest or costliest)
and puts them back, each where it costs least, a two-caregiver visit or a link
as one move over two routes; a new solution is kept by simulated annealing.

The inner loops are compiled with numba and release the GIL; still, call
``solve`` from a worker process or thread, never on an event loop. Its input and
output are plain picklable values, so it runs unchanged in another process.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from dispatch.planning import kernel
from dispatch.planning.arrays import Compiled, compile_problem
from dispatch.planning.model import (
    Break,
    Link,
    Plan,
    PlannedStop,
    Route,
    RoutingProblem,
    Stop,
    TimeWindow,
    Worker,
)

log = logging.getLogger(__name__)

AVG_REMOVED = 10.0  # visits a round removes on average (SISR's c-bar)
# Fewer on large days with many pairs, where a round of ten reinsertions is so
# dear that small ruins make more progress in the same time (docs/planning.md).
# A day's weight: its visit tasks, plus PAIR_WEIGHT per pair or link (putting a
# pair back walks two routes and their partners': about five times a visit's walks).
PAIR_WEIGHT = 4
SMALLER_RUINS = ((400, 3.0), (220, 5.0))  # (weight above, visits removed)
PAIR_TRIES = 16  # placements of a pair's two halves tried exactly, per insertion
FIXED_CHUNK = 64  # rounds per compiled call when a round count, not the clock, ends the search
# Annealing temperatures as shares of the average travel into a visit.
TEMP_START, TEMP_END = 0.5, 0.005
CONSTRUCT_LATE_WEIGHT = 10


@dataclass(frozen=True, slots=True)
class SearchReport:
    rounds: int
    improvements: int
    first_cost: int
    best_cost: int


def solve(
    problem: RoutingProblem,
    time_limit_s: float = 5.0,
    *,
    warm_start: Plan | None = None,
    seed: int = 1,
    rounds: int | None = None,
) -> Plan:
    """The routes; stops that cannot be planned under the rules are reported in
    ``Plan.unplanned``. With ``warm_start`` (the plan before a change), visits
    stay where they were unless moving saves ``problem.move_cost_s`` or more.
    With ``rounds``, the search stops after that many rounds instead of at the
    time limit: the same plan on a busy machine as on a quiet one."""
    plan, _ = solve_with_report(
        problem, time_limit_s, warm_start=warm_start, seed=seed, rounds=rounds
    )
    return plan


def solve_with_report(
    problem: RoutingProblem,
    time_limit_s: float = 5.0,
    *,
    warm_start: Plan | None = None,
    seed: int = 1,
    rounds: int | None = None,
) -> tuple[Plan, SearchReport]:
    clock = time.perf_counter()
    deadline = clock + time_limit_s
    compiled = compile_problem(problem, warm_start)
    P = compiled.problem
    n_tasks, n_workers = len(compiled.tasks), len(problem.workers)
    kernel.seed_random(seed)
    S = kernel.new_state(n_tasks, n_workers, P[3])
    X = kernel.new_scratch(n_tasks, n_workers, S[4])
    _construct(compiled, S, X)
    kernel.schedule(P, S, X)
    first = int(kernel.cost(P, S))
    best, backup = kernel.clone_state(S), kernel.clone_state(S)
    costs = np.array([first, first], dtype=np.int64)  # current, best
    planned = max(1, int((S[2][: len(compiled.tasks)] >= 0).sum()))
    avg_edge = max(1.0, float(S[6].sum()) / planned)
    pairs = int((compiled.unit_b >= 0).sum())
    avg_removed = ruin_size(len(compiled.unit_a), n_tasks - len(compiled.break_units), pairs)
    done = improvements = 0
    chunk = 1
    while True:
        now = time.perf_counter()
        if rounds is None:
            if now >= deadline and done > 0:
                break
            progress = min(1.0, (now - clock) / max(time_limit_s, 1e-9))
        else:
            if done >= rounds:
                break
            progress = done / rounds
            chunk = min(chunk, rounds - done)
        step = time.perf_counter()
        improvements += kernel.search(
            P,
            S,
            best,
            backup,
            X,
            chunk,
            progress,
            progress,
            TEMP_START * avg_edge,
            TEMP_END * avg_edge,
            avg_removed,
            PAIR_TRIES,
            costs,
        )
        done += chunk
        took = time.perf_counter() - step
        # About 20 ms a call: the clock is looked at often enough, calls stay cheap.
        chunk = (
            max(1, min(chunk * 2, int(chunk * 0.02 / max(took, 1e-6))))
            if rounds is None
            else min(chunk * 2, FIXED_CHUNK)
        )
    kernel.copy_state(best, S)
    kernel.schedule(P, S, X)
    report = SearchReport(done, improvements, first, int(kernel.cost(P, S)))
    log.debug("search: %s", report)
    return _read(problem, compiled, S, report), report


def ruin_size(units: int, visit_tasks: int, pairs: int) -> float:
    """How many visits a round removes on average: SISR's ten, fewer on a small day
    or a heavy one (Mankowska: ten on D, 100 visits in 75 patients; five on E; three
    on F and G; ten on Solomon and GH200, which have no pairs)."""
    weight = visit_tasks + PAIR_WEIGHT * pairs
    for above, removed in SMALLER_RUINS:
        if weight > above:
            return removed
    return min(AVG_REMOVED, max(2.0, 0.2 * units))


def warm_up() -> None:
    """Load (or, the first time on a machine, compile: a minute or two) the search's
    compiled code, so that the first real plan does not pay for it."""
    hour = 3600
    day = TimeWindow(8 * hour, 18 * hour)
    lunch = (Break(TimeWindow(12 * hour, 13 * hour), 1800),)
    problem = RoutingProblem(
        travel_s=[[abs(a - b) * 60 for b in range(4)] for a in range(4)],
        stops=[
            Stop("one", 1, 1800, day, workers_needed=2),
            Stop("two", 2, 1800, day, late_cost_per_s=1),
            Stop("three", 3, 1800, day),
        ],
        workers=[Worker(w, 0, 0, day, breaks=lunch) for w in ("a", "b")],
        links=[Link("two", "three", 0, 600)],
    )
    first = solve(problem, 0.0)
    solve(problem, 0.0, warm_start=first)


def _construct(compiled: Compiled, S: Any, X: Any) -> None:
    """The warm start's visits where they were (in the order of their old starts)
    and the breaks where they fit; then the rest (breaks too, without a warm start)
    by the opening of their window, lateness weighing ten times its cost."""
    P = compiled.problem
    P = (*P[:6], P[6] * CONSTRUCT_LATE_WEIGHT, *P[7:])
    for u, (w1, i1, w2, i2, _) in sorted(compiled.warm.items(), key=lambda kv: kv[1][4]):
        k1 = _position(compiled, S, w1, i1)
        k2 = _position(compiled, S, w2, i2) if w2 >= 0 else -1
        kernel.place_unit(P, S, X, u, w1, k1, w2, k2)
    if compiled.warm:
        for u in compiled.break_units:
            _make_room(compiled, P, S, X, u)
    route_of, e = S[2], P[3]
    rest = [u for u, a in enumerate(compiled.unit_a) if route_of[a] < 0]
    rest.sort(key=lambda u: (int(e[compiled.unit_a[u]]), u))
    # Like a dispatcher handing out the day in order of opening: each visit goes
    # after the last of some caregiver's, so nothing planned moves and no chain of
    # synchronised visits is pushed; the search then reorders.
    for u in rest:
        if not kernel.insert_unit(P, S, X, u, 0.0, PAIR_TRIES, not compiled.warm):
            if u in compiled.break_units:
                _make_room(compiled, P, S, X, u)
            else:
                kernel.insert_unit(P, S, X, u, 0.0, PAIR_TRIES, False)


def _make_room(compiled: Compiled, P: Any, S: Any, X: Any, u: int) -> None:
    """Insert break unit u; if it fits nowhere, take the worker's visits nearest
    the break's window off the route until it does (the search plans them again).
    A break is never left out while its worker has visits."""
    brk = int(compiled.unit_a[u])
    w = compiled.tasks[brk].worker
    middle = (int(P[3][brk]) + int(P[4][brk])) // 2
    while not kernel.insert_unit(P, S, X, u, 0.0, PAIR_TRIES, False):
        on_route = [int(t) for t in S[0][w, : int(S[1][w])] if P[1][t] >= 0]
        if not on_route:
            return
        nearest = min(on_route, key=lambda t: abs(int(S[4][t]) - middle))
        unit = int(P[22][nearest])
        kernel.remove(P, S, int(compiled.unit_a[unit]))
        if compiled.unit_b[unit] >= 0:
            kernel.remove(P, S, int(compiled.unit_b[unit]))
        kernel.schedule(P, S, X)


def _position(compiled: Compiled, S: Any, w: int, index: int) -> int:
    """Where a warm-start visit goes among those already back on route w: after
    every one that came before it in the old route."""
    routes, rlen = S[0], S[1]
    warm_index = {}
    for u, (w1, i1, w2, i2, _) in compiled.warm.items():
        if w1 == w:
            warm_index[int(compiled.unit_a[u])] = i1
        if w2 == w:
            warm_index[int(compiled.unit_b[u])] = i2
    k = 0
    for i in range(int(rlen[w])):
        t = int(routes[w, i])
        if warm_index.get(t, -1) < index:
            k = i + 1
    return k


def _read(problem: RoutingProblem, compiled: Compiled, S: Any, report: SearchReport) -> Plan:
    routes_arr, rlen, start, arrive, rtravel = S[0], S[1], S[4], S[5], S[6]
    routes = []
    planned: set[str] = set()
    for w, worker in enumerate(problem.workers):
        stops = []
        for i in range(int(rlen[w])):
            task = compiled.tasks[int(routes_arr[w, i])]
            if task.stop is None:
                continue
            t = int(routes_arr[w, i])
            stops.append(PlannedStop(task.stop.id, int(arrive[t]), int(start[t])))
            planned.add(task.stop.id)
        routes.append(Route(worker.id, tuple(stops), int(rtravel[w]) if stops else 0))
    unplanned = tuple(s.id for s in problem.stops if s.id not in planned)
    return Plan(
        routes=tuple(routes),
        unplanned=unplanned,
        travel_s=sum(r.travel_s for r in routes),
        solver="lns",
        notes=(f"search: {report.rounds} rounds, cost {report.first_cost} -> {report.best_cost}",),
    )
