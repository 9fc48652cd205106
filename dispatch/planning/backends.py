"""Chooses the solver for each problem (docs/planning.md, "Which backend plans what").

- PyVRP where its model covers the problem (plain time-window routing: shifts,
  capacity, the longest working day, start and end places, skills every worker
  holds): its hybrid genetic search is the strongest there.
- The ruin-and-recreate search (``lns``) for everything a real care day has on top:
  breaks, skills some workers lack, two caregivers at once, linked visits, pinned
  visits, familiar caregivers, soft windows, and re-planning from a previous plan.
- OR-Tools only for what the search does not carry: a stop tied to more than one
  other (in two links, or in a link and needing two caregivers).

The Plan says which one planned it, and why. Every solver is a pure function of
a picklable problem, so a plan can be made in another process.
"""

from __future__ import annotations

from dataclasses import replace

from dispatch.planning import arrays, lns, pyvrp_solver, solver
from dispatch.planning.model import Plan, RoutingProblem


def plan(
    problem: RoutingProblem, time_limit_s: float = 5.0, *, warm_start: Plan | None = None
) -> Plan:
    reason = pyvrp_solver.unsupported(problem)
    if reason is None and warm_start is None:
        return pyvrp_solver.solve(problem, time_limit_s)
    reason = reason or "a previous plan to keep close to"
    tied = arrays.unsupported(problem)
    if tied is None:
        result = lns.solve(problem, time_limit_s, warm_start=warm_start)
        return replace(result, notes=(*result.notes, f"search: the problem has {reason}"))
    result = solver.solve(problem, time_limit_s, warm_start=warm_start)
    return replace(result, notes=(*result.notes, f"OR-Tools: the problem has {tied}"))
