"""The routing planner, rule by rule, on small days it must get right (pure).

Each day here has a few visits, which every planner settles in a fraction of a
second, so each solve is given QUICK_S; the planners' quality on full-sized days
is in tests/integration/test_routing_quality.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from dispatch.planning import backends, lns, pyvrp_solver
from dispatch.planning.model import (
    Break,
    Link,
    Plan,
    PlannedStop,
    Route,
    RoutingProblem,
    TimeWindow,
    Worker,
)
from dispatch.planning.solver import changed_workers
from dispatch.planning.solver import solve as ortools_solve
from tests.plan_check import violations
from tests.routing_days import DAY, HOUR, line, route, start_of, stop, worker

QUICK_S = 0.2  # the solvers' time limit for a day of a few visits

Solve = Callable[[RoutingProblem, float], Plan]


@pytest.fixture(params=["lns", "ortools"])
def solve(request: pytest.FixtureRequest) -> Solve:
    """Each rule holds for both full-model planners, and every plan passes the check."""
    planner = lns.solve if request.param == "lns" else ortools_solve

    def checked(problem: RoutingProblem, time_limit_s: float) -> Plan:
        plan = planner(problem, time_limit_s)
        assert violations(problem, plan) == []
        return plan

    return checked


def test_a_stop_goes_only_to_someone_with_its_skill(solve: Solve) -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1, 5),
        stops=[stop("bath", 1, skills=frozenset({"bathing"}))],
        workers=[worker("near"), worker("far", skills=frozenset({"basic_care", "bathing"}))],
    )
    plan = solve(problem, QUICK_S)
    assert route(plan, "far") == ["bath"]
    assert route(plan, "near") == []


def test_time_windows_set_the_order_and_the_start(solve: Solve) -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1, 2),
        stops=[
            stop("lunch", 1, window=TimeWindow(11 * HOUR, 12 * HOUR)),
            stop("morning", 2, window=TimeWindow(9 * HOUR, 10 * HOUR)),
        ],
        workers=[worker("a")],
    )
    plan = solve(problem, QUICK_S)
    assert route(plan, "a") == ["morning", "lunch"]
    [lunch] = start_of(plan, "lunch")
    assert 11 * HOUR <= lunch <= 12 * HOUR


def test_a_stop_no_one_can_take_is_reported_not_forced(solve: Solve) -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1),
        stops=[stop("night", 1, window=TimeWindow(22 * HOUR, 23 * HOUR))],  # after every shift
        workers=[worker("a")],
    )
    plan = solve(problem, QUICK_S)
    assert plan.unplanned == ("night",)


def test_two_caregivers_start_together_on_two_routes(solve: Solve) -> None:
    problem = RoutingProblem(
        travel_s=line(0, 3),
        stops=[stop("lift", 1, workers_needed=2)],
        workers=[worker("a"), worker("b"), worker("c")],
    )
    plan = solve(problem, QUICK_S)
    on = [r.worker_id for r in plan.routes if "lift" in [s.stop_id for s in r.stops]]
    assert len(on) == 2
    first, second = start_of(plan, "lift")
    assert first == second


def test_the_familiar_caregiver_for_a_small_detour_not_a_huge_one(solve: Solve) -> None:
    def plan_for(known_at: float) -> Plan:
        problem = RoutingProblem(
            travel_s=line(0, 1, known_at),
            stops=[stop("visit", 1, preferred_workers=frozenset({"known"}))],
            workers=[
                worker("stranger"),
                Worker("known", 2, 2, DAY, frozenset({"basic_care"})),
            ],
            familiarity_bonus_s=600,
        )
        return solve(problem, QUICK_S)

    assert route(plan_for(2), "known") == ["visit"]  # a minute further away: worth it
    assert route(plan_for(30), "stranger") == ["visit"]  # half an hour further: not


def test_a_pinned_visit_stays_with_its_caregiver_at_its_time(solve: Solve) -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1, 9),
        stops=[stop("started", 2, pinned_worker="b", pinned_start=9 * HOUR)],
        workers=[worker("a"), worker("b")],
    )
    plan = solve(problem, QUICK_S)
    assert route(plan, "b") == ["started"]
    assert start_of(plan, "started") == [9 * HOUR]


def test_the_working_day_is_capped(solve: Solve) -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1, 2, 3),
        stops=[stop(f"v{i}", i, duration_s=2 * HOUR) for i in (1, 2, 3)],
        workers=[worker("short", max_work_s=5 * HOUR), worker("other")],
    )
    plan = solve(problem, QUICK_S)
    assert len(route(plan, "short")) <= 2
    assert not plan.unplanned


def test_a_break_is_kept_clear_of_visits(solve: Solve) -> None:
    lunch = Break(TimeWindow(12 * HOUR, 12 * HOUR), HOUR)  # 12:00 to 13:00, fixed
    problem = RoutingProblem(
        travel_s=line(0, 1),
        # An hour's visit that may start from 11:30 to 13:00: only 13:00 misses lunch.
        stops=[stop("visit", 1, duration_s=HOUR, window=TimeWindow(11 * HOUR + 1800, 13 * HOUR))],
        workers=[worker("a", breaks=(lunch,))],
    )
    plan = solve(problem, QUICK_S)
    assert start_of(plan, "visit") == [13 * HOUR]


def test_changed_workers_are_the_ones_to_tell(solve: Solve) -> None:
    def day(y_with: str) -> Plan:
        return solve(
            RoutingProblem(
                travel_s=line(0, 1, 2),
                stops=[stop("x", 1, pinned_worker="a"), stop("y", 2, pinned_worker=y_with)],
                workers=[worker("a"), worker("b"), worker("c")],
            ),
            QUICK_S,
        )

    before = day("b")
    assert changed_workers(before, day("b")) == set()
    assert changed_workers(before, day("a")) == {"a", "b"}  # c's empty day did not change


def test_a_two_caregiver_stop_no_pair_can_take_leaves_the_rest_planned(solve: Solve) -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1, 2),
        stops=[stop("lift", 1, workers_needed=2), stop("meal", 2)],
        workers=[worker("alone")],  # nobody to lift with
    )
    plan = solve(problem, QUICK_S)
    assert plan.unplanned == ("lift",)
    assert route(plan, "alone") == ["meal"]


def test_a_link_puts_two_services_on_two_people_with_the_lag_between(solve: Solve) -> None:
    nursing, care = frozenset({"nursing"}), frozenset({"basic_care"})
    problem = RoutingProblem(
        travel_s=line(0, 1),
        stops=[
            stop("dress wound", 1, skills=nursing, duration_s=600),
            stop("wash", 1, skills=care, duration_s=600),
        ],
        workers=[worker("nurse", skills=nursing), worker("carer", skills=care)],
        links=[Link("dress wound", "wash", min_lag_s=900, max_lag_s=1800)],
    )
    plan = solve(problem, QUICK_S)
    assert route(plan, "nurse") == ["dress wound"]
    assert route(plan, "carer") == ["wash"]
    [first], [second] = start_of(plan, "dress wound"), start_of(plan, "wash")
    assert 900 <= second - first <= 1800


def test_a_soft_window_lets_a_stop_start_late_at_a_cost(solve: Solve) -> None:
    late = TimeWindow(8 * HOUR, 8 * HOUR + 60)  # cannot be reached in time
    hard = RoutingProblem(
        travel_s=line(0, 5), stops=[stop("x", 1, window=late)], workers=[worker("a")]
    )
    assert solve(hard, QUICK_S).unplanned == ("x",)
    soft = RoutingProblem(
        travel_s=line(0, 5),
        stops=[stop("x", 1, window=late, late_cost_per_s=1)],
        workers=[worker("a")],
    )
    plan = solve(soft, QUICK_S)
    assert plan.unplanned == ()
    assert start_of(plan, "x") == [8 * HOUR + 300]  # as early as travel allows


def test_pyvrp_leaves_off_what_it_cannot_serve() -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1, 2),
        stops=[stop("night", 1, window=TimeWindow(22 * HOUR, 23 * HOUR)), stop("day", 2)],
        workers=[worker("a")],
    )
    plan = pyvrp_solver.solve(problem, QUICK_S)
    assert plan.unplanned == ("night",)
    assert route(plan, "a") == ["day"]


def test_what_pyvrp_cannot_express_goes_to_the_search_and_says_why() -> None:
    with_break = RoutingProblem(
        travel_s=line(0, 1),
        stops=[stop("x", 1)],
        workers=[worker("a", breaks=(Break(TimeWindow(12 * HOUR, 13 * HOUR), 1800),))],
    )
    assert pyvrp_solver.unsupported(with_break) == "breaks"
    plan = backends.plan(with_break, QUICK_S)
    assert plan.solver == "lns"
    assert plan.notes[-1] == "search: the problem has breaks"
    with pytest.raises(ValueError, match="breaks"):
        pyvrp_solver.solve(with_break, QUICK_S)
    skills = RoutingProblem(
        travel_s=line(0, 1),
        stops=[stop("bath", 1, skills=frozenset({"bathing"}))],
        workers=[worker("a"), worker("b", skills=frozenset({"basic_care", "bathing"}))],
    )
    assert pyvrp_solver.unsupported(skills) == "skills not every worker holds"


def test_a_visit_stays_with_its_caregiver_unless_moving_saves_more() -> None:
    def day(move_cost_s: int) -> RoutingProblem:
        return RoutingProblem(
            travel_s=line(0, 1, 4),
            stops=[stop("x", 2)],  # 1 from b's place, 2 from a's: b is a minute nearer
            workers=[
                Worker("a", 0, 0, DAY, frozenset({"basic_care"})),
                Worker("b", 1, 1, DAY, frozenset({"basic_care"})),
            ],
            move_cost_s=move_cost_s,
        )

    before = Plan(routes=(Route("a", (PlannedStop("x", 0, 0),), 0),), unplanned=())
    assert route(lns.solve(day(900), QUICK_S, warm_start=before), "a") == ["x"]
    assert route(lns.solve(day(0), QUICK_S, warm_start=before), "b") == ["x"]


def test_the_worst_lateness_can_cost_more_than_the_total() -> None:
    # One caregiver, two soft visits due at 8:00, both at the same door: either
    # order has the same total lateness... unless one of them is an hour long.
    problem = RoutingProblem(
        travel_s=line(0, 1),
        stops=[
            stop(
                "long", 1, duration_s=HOUR, window=TimeWindow(8 * HOUR, 8 * HOUR), late_cost_per_s=1
            ),
            stop(
                "short", 1, duration_s=60, window=TimeWindow(8 * HOUR, 8 * HOUR), late_cost_per_s=1
            ),
        ],
        workers=[worker("a")],
    )
    assert route(lns.solve(problem, QUICK_S), "a") == ["short", "long"]  # less lateness in all
    fair = replace(problem, worst_late_cost_per_s=2)
    assert route(lns.solve(fair, QUICK_S), "a") == ["short", "long"]  # and the worst is smaller too


def test_a_stop_tied_to_two_others_goes_to_or_tools() -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1),
        stops=[stop("a", 1), stop("b", 1), stop("c", 1)],
        workers=[worker("x"), worker("y")],
        links=[Link("a", "b", 0, 600), Link("b", "c", 0, 600)],
    )
    plan = backends.plan(problem, QUICK_S)
    assert plan.solver == "ortools"
    assert plan.notes[-1] == "OR-Tools: the problem has a stop in more than one link or pair"


def test_a_capped_day_that_opens_with_lunch_counts_from_lunch(solve: Solve) -> None:
    # Open all day, an 8-hour cap, lunch by 13:30: visiting at dawn and waiting
    # for lunch breaks the cap; lunch first, then the visits, does not.
    allday = TimeWindow(0, 24 * HOUR - 1)
    lunch = Break(TimeWindow(11 * HOUR + 1800, 13 * HOUR), 1800)
    problem = RoutingProblem(
        travel_s=line(0, 1, 2),
        stops=[stop("clean", 1, window=allday), stop("meal", 2, duration_s=900, window=allday)],
        workers=[Worker("a", 0, 0, allday, frozenset({"basic_care"}), 8 * HOUR, breaks=(lunch,))],
    )
    plan = solve(problem, QUICK_S)
    assert plan.unplanned == ()


def test_a_day_heavy_with_pairs_is_searched_with_smaller_ruins() -> None:
    plain = lns.ruin_size(units=200, visit_tasks=200, pairs=0)
    middling = lns.ruin_size(units=100, visit_tasks=130, pairs=30)
    heavy = lns.ruin_size(units=300, visit_tasks=400, pairs=100)
    assert plain == lns.AVG_REMOVED
    assert heavy < middling < plain
    assert lns.ruin_size(units=10, visit_tasks=13, pairs=3) < plain  # a tiny day: a few


def test_the_search_compiled_once_is_found_on_disk() -> None:
    # The session compiled it at start (tests/conftest.py), so every later process
    # must find it there and load nothing again.
    from dispatch.planning import compile

    assert compile.compiled_on_disk()


def test_a_good_credit_score_wins_a_near_tie_not_a_long_detour(solve: Solve) -> None:
    def plan_for(trusted_at: float, bonus_s: int = 60) -> Plan:
        problem = RoutingProblem(
            travel_s=line(0, 1, trusted_at),
            stops=[stop("visit", 1)],
            workers=[
                worker("plain"),
                Worker("trusted", 2, 2, DAY, frozenset({"basic_care"}), credit_bonus_s=bonus_s),
            ],
        )
        return solve(problem, QUICK_S)

    # 75 s each way against 60: 30 s more travel, forgiven by a 60 s bonus.
    assert route(plan_for(2.25), "trusted") == ["visit"]
    assert route(plan_for(2.25, bonus_s=0), "plain") == ["visit"]
    assert route(plan_for(30), "plain") == ["visit"]  # half an hour further: travel wins
    assert (
        pyvrp_solver.unsupported(
            RoutingProblem(
                travel_s=line(0, 1),
                stops=[stop("v", 1)],
                workers=[replace(worker("w"), credit_bonus_s=60)],
            )
        )
        == "credit bonuses"
    )
