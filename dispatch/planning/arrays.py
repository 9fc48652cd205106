"""A RoutingProblem as the flat arrays the compiled search works on (pure).

A *task* is one caregiver's part of a stop: a stop needing two caregivers is two
tasks that must start together; a break is a task without a place that only its
worker can take. A *unit* is what is planned or left out as a whole: a stop
(one or two tasks) or the two stops of a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dispatch.planning.model import Plan, RoutingProblem, Stop

INF = 1 << 50
BREAK_PENALTY = 1 << 40  # a break is never left out while its worker works
NEIGHBOURS = 40


@dataclass(frozen=True)
class Task:
    stop: Stop | None  # None: a break
    half: int  # 0, or 1 for a two-caregiver stop's second caregiver
    worker: int = -1  # a break's worker


@dataclass(frozen=True)
class Compiled:
    tasks: tuple[Task, ...]
    problem: tuple[Any, ...]  # the tuple kernel.py reads (order: see kernel.py)
    break_units: tuple[int, ...]
    # unit -> (worker, index in route, partner's worker, index, old start)
    warm: dict[int, tuple[int, int, int, int, int]]

    @property
    def unit_a(self) -> Any:
        return self.problem[19]

    @property
    def unit_b(self) -> Any:
        return self.problem[20]


def unsupported(problem: RoutingProblem) -> str | None:
    """What the search cannot carry: a stop tied to more than one other."""
    ids = [s.id for s in problem.stops]
    if len(set(ids)) != len(ids):
        return "two stops with one id"
    paired = {s.id for s in problem.stops if s.workers_needed == 2}
    linked: set[str] = set()
    known = set(ids)
    for link in problem.links:
        for end in (link.first, link.second):
            if end not in known:
                return f"a link to an unknown stop {end}"
            if end in linked or end in paired:
                return "a stop in more than one link or pair"
            linked.add(end)
        if link.first == link.second:
            return "a stop linked to itself"
    if not problem.workers:
        return "no workers"
    return None


def compile_problem(problem: RoutingProblem, warm_start: Plan | None = None) -> Compiled:
    """The arrays; raises ValueError for what ``unsupported`` names."""
    reason = unsupported(problem)
    if reason is not None:
        raise ValueError(f"the search cannot plan this problem: {reason}")
    workers = list(problem.workers)
    worker_index = {w.id: i for i, w in enumerate(workers)}
    tasks: list[Task] = []
    first_task: dict[str, int] = {}
    for stop in problem.stops:
        first_task[stop.id] = len(tasks)
        tasks.append(Task(stop, 0))
        if stop.workers_needed == 2:
            tasks.append(Task(stop, 1))
    break_units_at = len(tasks)
    for w, worker in enumerate(workers):
        tasks += [Task(None, i, w) for i in range(len(worker.breaks))]
    n, r = len(tasks), len(workers)

    loc = np.full(n, -1, dtype=np.int64)
    dur = np.zeros(n, dtype=np.int64)
    e = np.zeros(n, dtype=np.int64)
    late_end = np.full(n, INF, dtype=np.int64)
    due = np.full(n, INF, dtype=np.int64)
    late = np.zeros(n, dtype=np.int64)
    partner = np.full(n, -1, dtype=np.int64)
    push_lag = np.zeros(n, dtype=np.int64)
    demand = np.zeros(n, dtype=np.int64)
    allowed = np.zeros((r, n), dtype=np.bool_)
    fam = np.zeros((r, n), dtype=np.int64)
    # A credit bonus as a cost on everyone else: the best-scored pays nothing extra.
    top_bonus = max((w.credit_bonus_s for w in workers), default=0)
    fixed = np.zeros(n, dtype=np.bool_)
    for t, task in enumerate(tasks):
        if task.stop is None:
            brk = workers[task.worker].breaks[task.half]
            dur[t], e[t], late_end[t], due[t] = (
                brk.duration_s,
                brk.window.start,
                brk.window.end,
                INF,
            )
            allowed[task.worker, t] = True
            continue
        stop = task.stop
        loc[t], dur[t], demand[t] = stop.location, stop.duration_s, stop.demand
        e[t], due[t] = stop.window.start, stop.window.end
        if stop.late_cost_per_s:
            late[t] = stop.late_cost_per_s
        else:
            late_end[t] = stop.window.end
        if stop.pinned_start is not None:
            e[t] = late_end[t] = due[t] = stop.pinned_start
        fixed[t] = stop.pinned_worker is not None and stop.pinned_start is not None
        for w, worker in enumerate(workers):
            if not stop.skills <= worker.skills:
                continue
            if stop.pinned_worker is not None and (task.half == 0) != (
                worker.id == stop.pinned_worker
            ):
                continue
            allowed[w, t] = True
            if stop.preferred_workers and worker.id not in stop.preferred_workers:
                fam[w, t] = problem.familiarity_bonus_s
            fam[w, t] += top_bonus - worker.credit_bonus_s
        if task.half == 1:  # two caregivers at once: the same start
            partner[t], partner[t - 1] = t - 1, t

    units_a: list[int] = []
    units_b: list[int] = []
    penalty: list[int] = []
    linked = {link.first: link for link in problem.links}
    seconds = {link.second for link in problem.links}
    for stop in problem.stops:
        t = first_task[stop.id]
        if stop.id in seconds:
            continue
        if stop.id in linked:
            link = linked[stop.id]
            u = first_task[link.second]
            partner[t], partner[u] = u, t
            push_lag[t], push_lag[u] = link.min_lag_s, -link.max_lag_s
            units_a.append(t)
            units_b.append(u)
            penalty.append(2 * problem.unplanned_penalty_s)
        else:
            units_a.append(t)
            units_b.append(t + 1 if stop.workers_needed == 2 else -1)
            penalty.append(problem.unplanned_penalty_s)
    break_units = []
    for t in range(break_units_at, n):
        break_units.append(len(units_a))
        units_a.append(t)
        units_b.append(-1)
        penalty.append(BREAK_PENALTY)
    task_unit = np.zeros(n, dtype=np.int64)
    for u, (a, b) in enumerate(zip(units_a, units_b, strict=True)):
        task_unit[a] = u
        if b >= 0:
            task_unit[b] = u

    travel = np.asarray(problem.travel_s, dtype=np.int64)
    warm = _warm(problem, warm_start, tasks, worker_index, units_a, units_b, fam)
    problem_arrays = (
        travel,
        loc,
        dur,
        e,
        late_end,
        due,
        late,
        partner,
        push_lag,
        demand,
        allowed,
        fam,
        np.array([w.capacity if w.capacity is not None else INF for w in workers], np.int64),
        np.array([w.start_location for w in workers], dtype=np.int64),
        np.array([w.end_location for w in workers], dtype=np.int64),
        np.array([w.shift.start for w in workers], dtype=np.int64),
        np.array([w.shift.end for w in workers], dtype=np.int64),
        np.array([w.max_work_s if w.max_work_s is not None else INF for w in workers], np.int64),
        fixed,
        np.array(units_a, dtype=np.int64),
        np.array(units_b, dtype=np.int64),
        np.array(penalty, dtype=np.int64),
        task_unit,
        _neighbours(travel, loc),
        int(problem.worst_late_cost_per_s),
    )
    return Compiled(
        tasks=tuple(tasks),
        problem=problem_arrays,
        break_units=tuple(break_units),
        warm=warm,
    )


def _neighbours(travel: Any, loc: Any) -> Any:
    """Each visit's nearest other visits (ruin removes strings around them)."""
    visits = np.flatnonzero(loc >= 0)
    n = len(loc)
    k = min(NEIGHBOURS, max(0, len(visits) - 1))
    out = np.full((n, max(k, 1)), -1, dtype=np.int64)
    if k == 0:
        return out
    places = loc[visits]
    dist = travel[np.ix_(places, places)] + travel[np.ix_(places, places)].T
    np.fill_diagonal(dist, np.iinfo(np.int64).max)
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    out[visits] = visits[nearest]
    return out


def _warm(
    problem: RoutingProblem,
    plan: Plan | None,
    tasks: Sequence[Task],
    worker_index: dict[str, int],
    units_a: list[int],
    units_b: list[int],
    fam: Any,
) -> dict[int, tuple[int, int, int, int, int]]:
    """Where the previous plan had each unit: (worker, index in its route) for each
    task, and its start. A task put with another worker then costs ``move_cost_s``."""
    if plan is None:
        return {}
    places: dict[str, list[tuple[int, int, int]]] = {}
    for route in plan.routes:
        w = worker_index.get(route.worker_id)
        if w is None:
            continue
        for i, planned in enumerate(route.stops):
            places.setdefault(planned.stop_id, []).append((w, i, planned.start_s))
    had: dict[int, tuple[int, int, int]] = {}
    for t, task in enumerate(tasks):
        if task.stop is not None and len(places.get(task.stop.id, [])) > task.half:
            had[t] = places[task.stop.id][task.half]
            before = {w for w, _, _ in places[task.stop.id]}
            for w in range(fam.shape[0]):
                if w not in before:
                    fam[w, t] += problem.move_cost_s
    warm: dict[int, tuple[int, int, int, int, int]] = {}
    for u, (a, b) in enumerate(zip(units_a, units_b, strict=True)):
        if a in had and (b < 0 or b in had):
            w1, i1, s1 = had[a]
            w2, i2, _ = had[b] if b >= 0 else (-1, -1, 0)
            warm[u] = (w1, i1, w2, i2, s1)
    return warm
