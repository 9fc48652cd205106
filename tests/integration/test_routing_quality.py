"""The planners' quality on full-sized random days (36-40 visits, a second each):
valid plans with every rule at once, PyVRP no worse than OR-Tools, a re-plan that
moves few visits, and the server's worker process planning as in process.
Moved here from the unit tier, whose small days check the rules one by one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dispatch.planning import backends, lns, pyvrp_solver
from dispatch.planning.model import Route, RoutingProblem, TimeWindow, moved_stops
from dispatch.planning.pool import SolverPool
from dispatch.planning.solver import solve as ortools_solve
from tests.plan_check import violations
from tests.routing_days import HOUR, line, random_day, random_vrptw, route, stop, valid, worker

# The search is given rounds, not seconds: on a busy machine a second may hold only
# one round (loading the compiled code), and the plan must not depend on the load.
ROUNDS = 500


@pytest.mark.parametrize("seed", [1, 2])
def test_pyvrp_plans_a_plain_vrptw_validly_and_no_worse_than_or_tools(seed: int) -> None:
    problem = random_vrptw(seed)
    assert pyvrp_solver.unsupported(problem) is None
    ours = backends.plan(problem, 1)
    assert ours.solver == "pyvrp"
    assert valid(problem, ours)
    assert ours.unplanned == ()
    ortools = ortools_solve(problem, 1)
    assert valid(problem, ortools)
    assert ours.travel_s <= ortools.travel_s * 1.02


def test_the_server_s_solver_pool_plans_in_a_worker_process_as_in_process() -> None:
    # The server solves in a worker process (its own GIL): the problem and the plan
    # cross by pickling, and the plan must be the one a solve in process gives.
    problem = RoutingProblem(
        travel_s=line(0, 1, 2),
        stops=[
            stop("lunch", 1, window=TimeWindow(11 * HOUR, 12 * HOUR)),
            stop("morning", 2, window=TimeWindow(9 * HOUR, 10 * HOUR)),
        ],
        workers=[worker("a")],
    )
    pool = SolverPool()
    try:
        plan = pool.plan(problem, 1)
    finally:
        pool.close()
    assert route(plan, "a") == ["morning", "lunch"]
    assert route(plan, "a") == route(backends.plan(problem, 1), "a")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_search_plans_a_day_with_every_rule_validly(seed: int) -> None:
    problem = random_day(seed)
    plan = lns.solve(problem, 60, seed=seed, rounds=ROUNDS)
    assert violations(problem, plan) == []
    assert len(plan.unplanned) <= 2  # a few hard windows may be out of reach


def test_the_search_keeps_every_visit_where_it_was_when_nothing_changed() -> None:
    problem = random_day(4)
    before = lns.solve(problem, 60, rounds=ROUNDS)
    again = lns.solve(problem, 60, warm_start=before, seed=7, rounds=ROUNDS)
    assert violations(problem, again) == []
    assert moved_stops(before, again) == set()
    assert again.unplanned == before.unplanned


def test_a_re_plan_after_a_diversion_moves_few_visits() -> None:
    problem = random_day(5)
    before = lns.solve(problem, 60, rounds=ROUNDS)
    # w0 is called to an emergency: free only from 13:00, from the far corner.
    diverted = [
        replace(w, shift=TimeWindow(13 * HOUR, w.shift.end), start_location=1)
        if w.id == "w0"
        else w
        for w in problem.workers
    ]
    after_problem = replace(problem, workers=diverted)
    after = lns.solve(after_problem, 60, warm_start=before, rounds=ROUNDS)
    assert violations(after_problem, after) == []
    w0_morning = {
        s.stop_id
        for s in (before.route_of("w0") or Route("w0", (), 0)).stops
        if s.start_s < 13 * HOUR
    }
    moved = moved_stops(before, after)
    later = {s.stop_id for s in (after.route_of("w0") or Route("w0", (), 0)).stops}
    assert w0_morning <= moved | set(after.unplanned) | later  # later: after 13:00
    assert len(moved) <= len(w0_morning) + 6  # the morning's visits, and a few more
