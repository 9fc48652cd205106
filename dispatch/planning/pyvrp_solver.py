"""Plans routes with PyVRP (hybrid genetic search) for the problems its model covers.

PyVRP is far stronger than OR-Tools' local search on plain vehicle routing with
time windows (docs/planning-benchmark.md) but expresses less: no breaks, no two
caregivers starting together, no links between visits, no pinned visits, no
preference for a familiar caregiver, and here no skill restrictions. ``unsupported``
names the first of those a problem uses; ``planning.plan`` then uses OR-Tools.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvrp
from pyvrp.stop import MaxRuntime

from dispatch.planning.model import Plan, PlannedStop, Route, RoutingProblem, Worker

_NO_LIMIT = np.iinfo(np.int64).max


def unsupported(problem: RoutingProblem) -> str | None:
    """What in ``problem`` PyVRP cannot express here, or None if it can take it."""
    stops, workers = problem.stops, problem.workers
    if not workers:
        return "no workers"
    if any(s.workers_needed != 1 for s in stops):
        return "visits needing two caregivers"
    if problem.links:
        return "linked visits"
    if any(w.breaks for w in workers):
        return "breaks"
    if any(s.pinned_worker is not None or s.pinned_start is not None for s in stops):
        return "pinned visits"
    if any(s.preferred_workers for s in stops):
        return "familiar caregivers"
    if any(w.credit_bonus_s for w in workers):
        return "credit bonuses"
    if any(s.late_cost_per_s for s in stops):
        return "soft time windows"
    if any(not s.skills <= w.skills for s in stops for w in workers):
        return "skills not every worker holds"
    return None


def _vehicle_key(w: Worker) -> tuple[int, int, int, int, int | None, int | None]:
    return (w.start_location, w.end_location, w.shift.start, w.shift.end, w.max_work_s, w.capacity)


def solve(problem: RoutingProblem, time_limit_s: float = 5.0, *, seed: int = 1) -> Plan:
    """The routes; raises ValueError for a problem ``unsupported`` refuses."""
    reason = unsupported(problem)
    if reason is not None:
        raise ValueError(f"PyVRP cannot plan this problem: {reason}")
    matrix: Any = np.asarray(problem.travel_s, dtype=np.int64)  # pyvrp's stubs want ndarray[int]
    capacitated = any(s.demand for s in problem.stops)
    depots_at = sorted(
        {w.start_location for w in problem.workers} | {w.end_location for w in problem.workers}
    )
    depot_index = {loc: i for i, loc in enumerate(depots_at)}
    # Workers alike in every respect share one vehicle type.
    types: dict[tuple[int, int, int, int, int | None, int | None], list[Worker]] = {}
    for w in problem.workers:
        types.setdefault(_vehicle_key(w), []).append(w)
    vehicle_types = [
        pyvrp.VehicleType(
            num_available=len(ws),
            capacity=[ws[0].capacity if ws[0].capacity is not None else _NO_LIMIT]
            if capacitated
            else [],
            start_depot=depot_index[ws[0].start_location],
            end_depot=depot_index[ws[0].end_location],
            tw_early=ws[0].shift.start,
            tw_late=ws[0].shift.end,
            shift_duration=ws[0].max_work_s if ws[0].max_work_s is not None else _NO_LIMIT,
            unit_distance_cost=1,
        )
        for ws in types.values()
    ]
    clients = [
        pyvrp.Client(
            location=s.location,
            delivery=[s.demand] if capacitated else [],
            service_duration=s.duration_s,
            tw_early=s.window.start,
            tw_late=s.window.end,
            required=False,
            prize=problem.unplanned_penalty_s,
        )
        for s in problem.stops
    ]
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(0, 0) for _ in range(len(matrix))],
        clients=clients,
        depots=[pyvrp.Depot(location=loc) for loc in depots_at],
        vehicle_types=vehicle_types,
        distance_matrices=[matrix],
        duration_matrices=[matrix],
    )
    result = pyvrp.solve(data, stop=MaxRuntime(time_limit_s), seed=seed, display=False)
    return _read(problem, result.best, list(types.values()))


def _read(problem: RoutingProblem, solution: pyvrp.Solution, types: list[list[Worker]]) -> Plan:
    free = [list(ws) for ws in types]
    routes: dict[str, Route] = {}
    planned: set[str] = set()
    for route in solution.routes():
        worker = free[route.vehicle_type()].pop(0)
        stops = []
        for visit in route.schedule():
            if visit.is_client():
                stop = problem.stops[visit.idx]
                start = int(visit.start_time)
                stops.append(PlannedStop(stop.id, start - int(visit.wait_duration), start))
                planned.add(stop.id)
        routes[worker.id] = Route(worker.id, tuple(stops), int(route.distance()))
    ordered = tuple(routes.get(w.id, Route(w.id, (), 0)) for w in problem.workers)
    return Plan(
        routes=ordered,
        unplanned=tuple(s.id for s in problem.stops if s.id not in planned),
        travel_s=sum(r.travel_s for r in ordered),
        solver="pyvrp",
    )
