"""An independent check of a plan against every rule of the routing model.

Written from docs/planning.md, not from the solvers: it re-walks each route from
the plan's own start times and lists every rule a plan breaks (empty: valid).
"""

from __future__ import annotations

from dispatch.planning.model import Break, Plan, RoutingProblem, Stop, Worker


def violations(problem: RoutingProblem, plan: Plan) -> list[str]:
    found: list[str] = []
    stops = {s.id: s for s in problem.stops}
    workers = {w.id: w for w in problem.workers}
    starts: dict[str, list[tuple[str, int]]] = {}
    for route in plan.routes:
        worker = workers[route.worker_id]
        found += _route(problem, worker, route.stops, stops)
        for planned in route.stops:
            starts.setdefault(planned.stop_id, []).append((worker.id, planned.start_s))
    for stop in problem.stops:
        done = starts.get(stop.id, [])
        if stop.id in plan.unplanned:
            if done:
                found.append(f"{stop.id}: unplanned but on a route")
            continue
        if len(done) != stop.workers_needed:
            found.append(f"{stop.id}: {len(done)} caregivers, needs {stop.workers_needed}")
            continue
        if stop.workers_needed == 2:
            (w1, s1), (w2, s2) = done
            if w1 == w2 or s1 != s2:
                found.append(f"{stop.id}: two caregivers not together ({w1} {s1}, {w2} {s2})")
        if stop.pinned_worker is not None and stop.pinned_worker not in {w for w, _ in done}:
            found.append(f"{stop.id}: not with its pinned caregiver")
        if stop.pinned_start is not None and any(s != stop.pinned_start for _, s in done):
            found.append(f"{stop.id}: not at its pinned time")
    for link in problem.links:
        first, second = starts.get(link.first, []), starts.get(link.second, [])
        if not first and not second:
            continue
        if not first or not second:
            found.append(f"link {link.first}->{link.second}: only one end planned")
            continue
        (w1, s1), (w2, s2) = first[0], second[0]
        if w1 == w2:
            found.append(f"link {link.first}->{link.second}: one caregiver for both")
        if not link.min_lag_s <= s2 - s1 <= link.max_lag_s:
            found.append(f"link {link.first}->{link.second}: lag {s2 - s1}")
    listed = set(plan.unplanned) | set(starts)
    if listed != set(stops):
        found.append("stops missing from the plan or unknown ones in it")
    return found


def _route(
    problem: RoutingProblem, worker: Worker, planned: tuple, stops: dict[str, Stop]
) -> list[str]:
    found: list[str] = []
    if not planned:
        return found
    travel = problem.travel_s
    t, here, load = worker.shift.start, worker.start_location, 0
    # (free from, at, next start, next place) around each visit: where a break may go
    gaps: list[tuple[int, int, int, int]] = []
    for p in planned:
        stop = stops[p.stop_id]
        if not stop.skills <= worker.skills:
            found.append(f"{stop.id}: {worker.id} lacks a skill")
        reach = t + travel[here][stop.location]
        gaps.append((t, here, p.start_s, stop.location))
        if p.start_s < reach or p.start_s < stop.window.start:
            found.append(f"{stop.id}: starts at {p.start_s} before it can")
        if not stop.late_cost_per_s and p.start_s > stop.window.end:
            found.append(f"{stop.id}: starts after its window")
        t, here, load = p.start_s + stop.duration_s, stop.location, load + stop.demand
    end = t + travel[here][worker.end_location]
    gaps.append((t, here, worker.shift.end, worker.end_location))
    if end > worker.shift.end:
        found.append(f"{worker.id}: back after the shift")
    if worker.capacity is not None and load > worker.capacity:
        found.append(f"{worker.id}: over capacity")
    first = stops[planned[0].stop_id]
    leave = planned[0].start_s - travel[worker.start_location][first.location]
    if worker.max_work_s is not None and end - leave > worker.max_work_s:
        found.append(f"{worker.id}: works {end - leave} s, more than {worker.max_work_s}")
    for brk in worker.breaks:
        if not any(_fits(brk, gap, travel) for gap in gaps):
            found.append(f"{worker.id}: no room for the break {brk}")
    return found


def _fits(brk: Break, gap: tuple[int, int, int, int], travel: object) -> bool:
    """A break fits a gap if it can start in its window after the last visit and
    the worker still reaches the next place in time (it may be taken on the way)."""
    free, here, next_start, there = gap
    trip = travel[here][there]  # type: ignore[index]
    if max(free, brk.window.start) > brk.window.end:
        return False
    return bool(max(free + trip, brk.window.start) + brk.duration_s <= next_start)
