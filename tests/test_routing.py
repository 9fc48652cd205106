"""The routing planner, rule by rule, on small days it must get right (pure)."""

from __future__ import annotations

from dispatch.planning.model import Break, Plan, RoutingProblem, Stop, TimeWindow, Worker
from dispatch.planning.solver import changed_workers, solve

HOUR = 3600


def line(*xs: float) -> list[list[int]]:
    """Locations on a street: a minute of travel per unit apart."""
    return [[int(abs(a - b) * 60) for b in xs] for a in xs]


DAY = TimeWindow(8 * HOUR, 18 * HOUR)


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


def test_a_stop_goes_only_to_someone_with_its_skill() -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1, 5),
        stops=[stop("bath", 1, skills=frozenset({"bathing"}))],
        workers=[worker("near"), worker("far", skills=frozenset({"basic_care", "bathing"}))],
    )
    plan = solve(problem, 1)
    assert route(plan, "far") == ["bath"]
    assert route(plan, "near") == []


def test_time_windows_set_the_order_and_the_start() -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1, 2),
        stops=[
            stop("lunch", 1, window=TimeWindow(11 * HOUR, 12 * HOUR)),
            stop("morning", 2, window=TimeWindow(9 * HOUR, 10 * HOUR)),
        ],
        workers=[worker("a")],
    )
    plan = solve(problem, 1)
    assert route(plan, "a") == ["morning", "lunch"]
    [lunch] = start_of(plan, "lunch")
    assert 11 * HOUR <= lunch <= 12 * HOUR


def test_a_stop_no_one_can_take_is_reported_not_forced() -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1),
        stops=[stop("night", 1, window=TimeWindow(22 * HOUR, 23 * HOUR))],  # after every shift
        workers=[worker("a")],
    )
    plan = solve(problem, 1)
    assert plan.unplanned == ("night",)


def test_two_caregivers_start_together_on_two_routes() -> None:
    problem = RoutingProblem(
        travel_s=line(0, 3),
        stops=[stop("lift", 1, workers_needed=2)],
        workers=[worker("a"), worker("b"), worker("c")],
    )
    plan = solve(problem, 2)
    on = [r.worker_id for r in plan.routes if "lift" in [s.stop_id for s in r.stops]]
    assert len(on) == 2
    first, second = start_of(plan, "lift")
    assert first == second


def test_the_familiar_caregiver_for_a_small_detour_not_a_huge_one() -> None:
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
        return solve(problem, 1)

    assert route(plan_for(2), "known") == ["visit"]  # a minute further away: worth it
    assert route(plan_for(30), "stranger") == ["visit"]  # half an hour further: not


def test_a_pinned_visit_stays_with_its_caregiver_at_its_time() -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1, 9),
        stops=[stop("started", 2, pinned_worker="b", pinned_start=9 * HOUR)],
        workers=[worker("a"), worker("b")],
    )
    plan = solve(problem, 1)
    assert route(plan, "b") == ["started"]
    assert start_of(plan, "started") == [9 * HOUR]


def test_the_working_day_is_capped() -> None:
    problem = RoutingProblem(
        travel_s=line(0, 1, 2, 3),
        stops=[stop(f"v{i}", i, duration_s=2 * HOUR) for i in (1, 2, 3)],
        workers=[worker("short", max_work_s=5 * HOUR), worker("other")],
    )
    plan = solve(problem, 1)
    assert len(route(plan, "short")) <= 2
    assert not plan.unplanned


def test_a_break_is_kept_clear_of_visits() -> None:
    lunch = Break(TimeWindow(12 * HOUR, 12 * HOUR), HOUR)  # 12:00 to 13:00, fixed
    problem = RoutingProblem(
        travel_s=line(0, 1),
        # An hour's visit that may start from 11:30 to 13:00: only 13:00 misses lunch.
        stops=[stop("visit", 1, duration_s=HOUR, window=TimeWindow(11 * HOUR + 1800, 13 * HOUR))],
        workers=[worker("a", breaks=(lunch,))],
    )
    plan = solve(problem, 1)
    assert start_of(plan, "visit") == [13 * HOUR]


def test_changed_workers_are_the_ones_to_tell() -> None:
    def day(y_with: str) -> Plan:
        return solve(
            RoutingProblem(
                travel_s=line(0, 1, 2),
                stops=[stop("x", 1, pinned_worker="a"), stop("y", 2, pinned_worker=y_with)],
                workers=[worker("a"), worker("b"), worker("c")],
            ),
            1,
        )

    before = day("b")
    assert changed_workers(before, day("b")) == set()
    assert changed_workers(before, day("a")) == {"a", "b"}  # c's empty day did not change
