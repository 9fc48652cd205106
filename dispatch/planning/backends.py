"""Chooses the solver for each problem: PyVRP where its model covers the problem,
OR-Tools for the rest (breaks, two caregivers, links, pinned or familiar visits,
skills, soft windows). The Plan says which one planned it, and why."""

from __future__ import annotations

from dataclasses import replace

from dispatch.planning import pyvrp_solver, solver
from dispatch.planning.model import Plan, RoutingProblem


def plan(
    problem: RoutingProblem, time_limit_s: float = 5.0, *, warm_start: Plan | None = None
) -> Plan:
    reason = pyvrp_solver.unsupported(problem)
    if reason is None:
        return pyvrp_solver.solve(problem, time_limit_s)
    result = solver.solve(problem, time_limit_s, warm_start=warm_start)
    return replace(result, notes=(*result.notes, f"OR-Tools: the problem has {reason}"))
