"""Plans a day's visits into caregivers' routes with OR-Tools routing (pure: no I/O).

How each part of the model is expressed (docs/planning.md):
- travel: the arc cost and the transit of the "time" dimension, from the matrix;
  a stop's service time is added to the transit out of it;
- time windows: the stop's cumul range; shifts: each worker's start and end range;
- skills: the workers without every skill a stop needs are removed from its
  vehicle variable;
- capacity: a second dimension when any stop has a demand;
- breaks: OR-Tools break intervals on the worker's time dimension;
- maximum working time: an upper bound on the worker's span;
- the familiar caregiver: an extra arc cost into a stop for workers the elder
  does not know, so a short detour keeps the pair together and a long one does not;
- two caregivers at once: the stop is two nodes, on two different workers, both
  planned or neither, starting at the same time; a link between two stops is the
  same with a lag (one service, then another by someone else within a time);
- soft windows: a stop with a lateness cost may start late, at that cost per second;
- re-planning: a pinned stop stays with its worker at its time;
- what cannot be planned is dropped at a large penalty and reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.planning.model import Plan, PlannedStop, Route, RoutingProblem, Stop, Worker

TIME = "time"
LOAD = "load"


@dataclass(frozen=True, slots=True)
class _Node:
    stop: Stop
    copy: int  # 0, or 1 for a two-caregiver stop's second node


def _nodes(stops: Sequence[Stop]) -> list[_Node]:
    nodes = [_Node(s, 0) for s in stops]
    nodes += [_Node(s, 1) for s in stops if s.workers_needed == 2]
    return nodes


def _paired(problem: RoutingProblem) -> frozenset[str]:
    """Stops that go with another: two caregivers at once, or either end of a link."""
    ids = {s.id for s in problem.stops if s.workers_needed == 2}
    return frozenset(ids | {i for link in problem.links for i in (link.first, link.second)})


def solve(
    problem: RoutingProblem,
    time_limit_s: float = 5.0,
    *,
    warm_start: Plan | None = None,
) -> Plan:
    """The routes; stops no worker can take within the rules come back as unplanned.

    OR-Tools' local search inserts one node at a time, so it cannot add both halves
    of a pair that must be planned together. Paired stops are therefore first
    required; only if that has no solution are they made optional.
    """
    paired = _paired(problem)
    if paired:
        solved = [f for f in _paired_portfolio(problem, time_limit_s, warm_start, paired) if f]
        if solved:
            return min(solved, key=lambda f: f[1])[0]
    result = _solve(problem, time_limit_s, warm_start, required=frozenset())
    if result is None:
        return Plan(routes=(), unplanned=tuple(s.id for s in problem.stops), solver="ortools")
    return result[0]


def _paired_portfolio(
    problem: RoutingProblem, time_limit_s: float, warm_start: Plan | None, paired: frozenset[str]
) -> list[tuple[Plan, int] | None]:
    """Local search barely moves paired stops (a move must keep the pair's times in
    step across two routes), so the start decides much. Three starts: two
    constructions (a sixth of the time each), and routes planned without the
    pairs' timing (a third) then timed (a third) (docs/planning.md)."""
    share = time_limit_s / 6
    found = [
        _solve(problem, share, warm_start, required=paired, first=first)
        for first in PAIRED_FIRST_SOLUTIONS
    ]
    untimed = _solve(problem, 2 * share, warm_start, required=paired, timed=False)
    if untimed is not None:
        found.append(_solve(problem, 2 * share, untimed[0], required=paired))
    return found


FirstSolution = int  # a routing_enums_pb2.FirstSolutionStrategy value
PAIRED_FIRST_SOLUTIONS: tuple[FirstSolution, ...] = (
    routing_enums_pb2.FirstSolutionStrategy.SAVINGS,
    routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION,
)


def _solve(
    problem: RoutingProblem,
    time_limit_s: float,
    warm_start: Plan | None,
    *,
    required: frozenset[str],
    first: FirstSolution = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION,
    timed: bool = True,
) -> tuple[Plan, int] | None:
    """The plan and its objective, or None if no solution was found in time."""
    workers, nodes = list(problem.workers), _nodes(problem.stops)
    if not workers:
        return None
    depots = [w.start_location for w in workers] + [w.end_location for w in workers]
    # Routing node i: 0..len(nodes)-1 are stops, then each worker's start, then end.
    locations = [n.stop.location for n in nodes] + depots
    n_nodes = len(nodes)
    starts = [n_nodes + v for v in range(len(workers))]
    ends = [n_nodes + len(workers) + v for v in range(len(workers))]
    manager = pywrapcp.RoutingIndexManager(len(locations), len(workers), starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    travel = problem.travel_s

    def service(node: int) -> int:
        return nodes[node].stop.duration_s if node < n_nodes else 0

    def transit(from_index: int, to_index: int) -> int:
        a, b = manager.IndexToNode(from_index), manager.IndexToNode(to_index)
        return int(travel[locations[a]][locations[b]]) + service(a)

    transit_cb = routing.RegisterTransitCallback(transit)
    horizon = max(
        [w.shift.end for w in workers] + [n.stop.window.end + n.stop.duration_s for n in nodes]
    )
    routing.AddDimension(transit_cb, horizon, horizon, False, TIME)
    time_dim = routing.GetDimensionOrDie(TIME)

    # The cost: travel, plus a detour allowance for strangers on a familiar elder's stop.
    bonus = problem.familiarity_bonus_s
    # A credit bonus as a cost on everyone else into each stop (as arrays.py does).
    top_bonus = max((w.credit_bonus_s for w in workers), default=0)
    for v, worker in enumerate(workers):

        def cost(
            from_index: int,
            to_index: int,
            who: str = worker.id,
            short: int = top_bonus - worker.credit_bonus_s,
        ) -> int:
            a, b = manager.IndexToNode(from_index), manager.IndexToNode(to_index)
            extra = 0
            if b < n_nodes:
                extra = short
                known = nodes[b].stop.preferred_workers
                if known and who not in known:
                    extra += bonus
            return int(travel[locations[a]][locations[b]]) + extra

        routing.SetArcCostEvaluatorOfVehicle(routing.RegisterTransitCallback(cost), v)

    if any(n.stop.demand for n in nodes):
        demand_cb = routing.RegisterUnaryTransitCallback(
            lambda index: (
                nodes[manager.IndexToNode(index)].stop.demand
                if manager.IndexToNode(index) < n_nodes
                else 0
            )
        )
        capacities = [w.capacity if w.capacity is not None else 10**9 for w in workers]
        routing.AddDimensionWithVehicleCapacity(demand_cb, 0, capacities, True, LOAD)

    for v, worker in enumerate(workers):
        time_dim.CumulVar(routing.Start(v)).SetRange(worker.shift.start, worker.shift.end)
        time_dim.CumulVar(routing.End(v)).SetRange(worker.shift.start, worker.shift.end)
        if worker.max_work_s is not None:
            time_dim.SetSpanUpperBoundForVehicle(worker.max_work_s, v)
        if worker.breaks:
            solver = routing.solver()
            intervals = [
                solver.FixedDurationIntervalVar(
                    b.window.start, b.window.end, b.duration_s, False, f"break {worker.id} {i}"
                )
                for i, b in enumerate(worker.breaks)
            ]
            time_dim.SetBreakIntervalsOfVehicle(
                intervals, v, [service(n) for n in range(len(locations))]
            )

    index_of: dict[tuple[str, int], int] = {}
    for node, entry in enumerate(nodes):
        index = manager.NodeToIndex(node)
        index_of[(entry.stop.id, entry.copy)] = index
        stop = entry.stop
        if stop.late_cost_per_s:
            time_dim.CumulVar(index).SetRange(stop.window.start, horizon)
            time_dim.SetCumulVarSoftUpperBound(index, stop.window.end, stop.late_cost_per_s)
        else:
            time_dim.CumulVar(index).SetRange(stop.window.start, stop.window.end)
        allowed = [
            v
            for v, w in enumerate(workers)
            if stop.skills <= w.skills and (stop.pinned_worker in (None, w.id))
        ]
        if stop.pinned_worker is not None and stop.workers_needed == 1:
            allowed = [v for v in allowed if workers[v].id == stop.pinned_worker]
        # A worker without the skill (or another's pinned visit) is ruled out; a stop
        # nobody may take can then only stay unplanned.
        barred = [v for v in range(len(workers)) if v not in allowed]
        if barred:
            routing.VehicleVar(index).RemoveValues(barred)
        if stop.pinned_start is not None:
            time_dim.CumulVar(index).SetValue(stop.pinned_start)
        if entry.copy == 0 and stop.id not in required:
            routing.AddDisjunction([index], problem.unplanned_penalty_s)

    # Two caregivers at once: different workers, same start, both or neither.
    for stop in problem.stops:
        if stop.workers_needed != 2:
            continue
        a, b = index_of[(stop.id, 0)], index_of[(stop.id, 1)]
        _together(routing, time_dim, a, b, 0, 0, timed=timed)
        if stop.id not in required:
            routing.AddDisjunction([b], problem.unplanned_penalty_s)
    for link in problem.links:
        a, b = index_of[(link.first, 0)], index_of[(link.second, 0)]
        _together(routing, time_dim, a, b, link.min_lag_s, link.max_lag_s, timed=timed)

    for v in range(len(workers)):
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(v)))

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = first
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))

    assignment = None
    if warm_start is not None:
        hint = _routes_as_indices(warm_start, workers, index_of)
        routing.CloseModelWithParameters(params)
        initial = routing.ReadAssignmentFromRoutes(hint, True)
        if initial is not None:
            assignment = routing.SolveFromAssignmentWithParameters(initial, params)
    if assignment is None:
        assignment = routing.SolveWithParameters(params)
    if assignment is None:
        return None
    plan = _read(problem, routing, manager, assignment, time_dim, nodes, locations)
    return plan, assignment.ObjectiveValue()


def _together(
    routing: pywrapcp.RoutingModel,
    time_dim: pywrapcp.RoutingDimension,
    a: int,
    b: int,
    min_lag: int,
    max_lag: int,
    *,
    timed: bool,
) -> None:
    """Nodes a and b: both planned or neither, on different workers when planned,
    and (``timed``) b starting between min_lag and max_lag after a."""
    solver = routing.solver()
    solver.Add(routing.ActiveVar(a) == routing.ActiveVar(b))
    # Unplanned, both vehicle variables are -1: "different" binds only when planned.
    solver.Add(
        solver.IsDifferentVar(routing.VehicleVar(a), routing.VehicleVar(b)) >= routing.ActiveVar(a)
    )
    if timed:
        solver.Add(time_dim.CumulVar(b) >= time_dim.CumulVar(a) + min_lag)
        solver.Add(time_dim.CumulVar(b) <= time_dim.CumulVar(a) + max_lag)


def _routes_as_indices(
    plan: Plan, workers: Sequence[Worker], index_of: dict[tuple[str, int], int]
) -> list[list[int]]:
    used: set[tuple[str, int]] = set()
    routes: list[list[int]] = []
    for worker in workers:
        route = plan.route_of(worker.id)
        indices = []
        for planned in route.stops if route else ():
            key = (planned.stop_id, 1 if (planned.stop_id, 0) in used else 0)
            if key in index_of and key not in used:
                used.add(key)
                indices.append(index_of[key])
        routes.append(indices)
    return routes


def _read(
    problem: RoutingProblem,
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    assignment: pywrapcp.Assignment,
    time_dim: pywrapcp.RoutingDimension,
    nodes: list[_Node],
    locations: list[int],
) -> Plan:
    routes, planned_ids, total = [], set(), 0
    for v, worker in enumerate(problem.workers):
        index = routing.Start(v)
        stops: list[PlannedStop] = []
        travel_s = 0
        previous = None
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node < len(nodes):
                start = assignment.Value(time_dim.CumulVar(index))
                arrival = start
                if previous is not None:
                    arrival = min(start, assignment.Value(time_dim.CumulVar(previous)))
                stops.append(PlannedStop(nodes[node].stop.id, arrival_s=arrival, start_s=start))
                planned_ids.add(nodes[node].stop.id)
            nxt = assignment.Value(routing.NextVar(index))
            a, b = locations[node], locations[manager.IndexToNode(nxt)]
            travel_s += int(problem.travel_s[a][b])
            previous = index
            index = nxt
        total += travel_s if stops else 0
        routes.append(Route(worker.id, tuple(stops), travel_s if stops else 0))
    unplanned = tuple(s.id for s in problem.stops if s.id not in planned_ids)
    return Plan(routes=tuple(routes), unplanned=unplanned, travel_s=total, solver="ortools")


def changed_workers(before: Plan, after: Plan) -> set[str]:
    """Workers whose sequence of stops differs: the ones to tell."""

    def order(plan: Plan, worker_id: str) -> tuple[str, ...]:
        route = plan.route_of(worker_id)
        return tuple(s.stop_id for s in route.stops) if route else ()

    ids = {r.worker_id for r in before.routes} | {r.worker_id for r in after.routes}
    return {w for w in ids if order(before, w) != order(after, w)}
