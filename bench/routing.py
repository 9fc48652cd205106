"""Our planner against PyVRP and VROOM on the Solomon and Gehring-Homberger VRPTW sets.

"ours" is the planner as the server runs it (backends.plan picks PyVRP for a
plain VRPTW like these); "full" is the search that plans real days (lns.py: the
same model as a day with breaks, skills and two-caregiver visits, here with none
of them), not PyVRP underneath; "ortools" is our OR-Tools model alone.

One process, one run, the same time budget per instance for each solver, run one
after another (the machine's second core stays free): instance, our cost, each
peer's, the best known (the .sol files), gaps, averages per class. Distances and
times follow the DIMACS convention the best-known values use: Euclidean, truncated
to one decimal (so integers in tenths here).

    pip install -e ".[bench]"
    .venv/bin/python bench/routing.py --set Solomon --budget 1 10 [--instances C101 R101]
        [--solvers full pyvrp vroom]

Every returned solution is checked by the same validator (each customer once,
capacity, time windows); an infeasible one is marked, not counted.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyvrp
import vrplib
from pyvrp.stop import MaxRuntime

from dispatch.planning import backends, lns, solver
from dispatch.planning.model import RoutingProblem, Stop, TimeWindow, Worker

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "vrptw"


@dataclass(frozen=True)
class Instance:
    name: str
    dist: np.ndarray  # tenths, truncated (DIMACS)
    demand: np.ndarray
    windows: np.ndarray  # tenths
    service: np.ndarray  # tenths
    vehicles: int
    capacity: int
    best: float


def load(path: Path) -> Instance:
    raw = vrplib.read_instance(str(path))
    coords = raw["node_coord"].astype(float)
    delta = coords[:, None, :] - coords[None, :, :]
    dist = np.floor(np.sqrt((delta**2).sum(-1)) * 10).astype(int)
    n = len(coords)
    service = raw["service_time"]
    service = np.full(n, service) if np.isscalar(service) else np.asarray(service)
    service = (service * 10).astype(int)
    service[0] = 0
    best = vrplib.read_solution(str(path.with_suffix(".sol")))["cost"]
    return Instance(
        path.stem,
        dist,
        np.asarray(raw["demand"]).astype(int),
        (np.asarray(raw["time_window"]) * 10).astype(int),
        service,
        int(raw["vehicles"]),
        int(raw["capacity"]),
        float(best),
    )


def feasible(inst: Instance, routes: list[list[int]]) -> bool:
    """Each customer once, within capacity and time windows (waiting allowed)."""
    visited = sorted(c for r in routes for c in r)
    if visited != list(range(1, len(inst.demand))) or len(routes) > inst.vehicles:
        return False
    for route in routes:
        if sum(inst.demand[c] for c in route) > inst.capacity:
            return False
        t, here = inst.windows[0][0], 0
        for c in route:
            t = max(t + inst.service[here] + inst.dist[here][c], inst.windows[c][0])
            if t > inst.windows[c][1]:
                return False
            here = c
        if t + inst.service[here] + inst.dist[here][0] > inst.windows[0][1]:
            return False
    return True


def cost(inst: Instance, routes: list[list[int]]) -> float:
    total = 0
    for route in routes:
        stops = [0, *route, 0]
        total += sum(inst.dist[a][b] for a, b in itertools.pairwise(stops))
    return total / 10


def problem_of(inst: Instance) -> RoutingProblem:
    n = len(inst.demand)
    depot = TimeWindow(int(inst.windows[0][0]), int(inst.windows[0][1]))
    return RoutingProblem(
        travel_s=inst.dist.tolist(),
        stops=[
            Stop(
                id=str(c),
                location=c,
                duration_s=int(inst.service[c]),
                window=TimeWindow(int(inst.windows[c][0]), int(inst.windows[c][1])),
                demand=int(inst.demand[c]),
            )
            for c in range(1, n)
        ],
        workers=[Worker(str(v), 0, 0, depot, capacity=inst.capacity) for v in range(inst.vehicles)],
    )


def ours(inst: Instance, budget: float) -> list[list[int]]:
    """The planner as the server runs it: it picks the backend for the problem."""
    plan = backends.plan(problem_of(inst), budget)
    return [[int(s.stop_id) for s in r.stops] for r in plan.routes if r.stops]


def full(inst: Instance, budget: float) -> list[list[int]]:
    """The search that plans real days, on the same instance (breaks off)."""
    plan = lns.solve(problem_of(inst), budget)
    return [[int(s.stop_id) for s in r.stops] for r in plan.routes if r.stops]


def ortools_only(inst: Instance, budget: float) -> list[list[int]]:
    """Our OR-Tools model alone (what plans days with breaks, skills, pairs)."""
    plan = solver.solve(problem_of(inst), budget)
    return [[int(s.stop_id) for s in r.stops] for r in plan.routes if r.stops]


def with_pyvrp(path: Path, budget: float) -> list[list[int]]:
    data = pyvrp.read(str(path), round_func="dimacs")
    result = pyvrp.solve(data, stop=MaxRuntime(budget), seed=1, display=False)
    # A client's idx counts clients from 0; locations put the depots first.
    return [[a.idx + data.num_depots for a in r if a.is_client()] for r in result.best.routes()]


def with_vroom(inst: Instance, budget: float) -> list[list[int]]:
    import vroom  # pip install -e ".[bench]"; only this peer needs it

    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=inst.dist.tolist())
    for v in range(inst.vehicles):
        problem.add_vehicle(
            vroom.Vehicle(
                id=v,
                start=0,
                end=0,
                capacity=[inst.capacity],
                time_window=vroom.TimeWindow(int(inst.windows[0][0]), int(inst.windows[0][1])),
            )
        )
    for c in range(1, len(inst.demand)):
        problem.add_job(
            vroom.Job(
                id=c,
                location=c,
                default_service=int(inst.service[c]),
                delivery=[int(inst.demand[c])],
                time_windows=[vroom.TimeWindow(int(inst.windows[c][0]), int(inst.windows[c][1]))],
            )
        )
    solution = problem.solve(exploration_level=5, nb_threads=1, timeout=timedelta(seconds=budget))
    routes: dict[int, list[int]] = {}
    frame: Any = solution.routes
    for _, row in frame.iterrows():
        if row["type"] == "job":
            routes.setdefault(int(row["vehicle_id"]), []).append(int(row["id"]))
    return list(routes.values())


SOLVERS = ("ours", "full", "ortools", "pyvrp", "vroom")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="Solomon", choices=["Solomon", "GH200"])
    parser.add_argument("--budget", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--instances", nargs="*", help="names, e.g. C101 R205 (default: all)")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    parser.add_argument("--solvers", nargs="+", choices=SOLVERS, default=list(SOLVERS))
    parser.add_argument("--data", type=Path, default=DATA, help="the vrptw data folder")
    parser.add_argument(
        "--per-class", type=int, default=0, help="only the first N instances of each class"
    )
    args = parser.parse_args()
    solvers = tuple(args.solvers)
    lns.warm_up()  # the search's compiled code loads outside the timings
    paths = sorted((args.data / args.set).glob("*.vrp"))
    if not paths:
        parser.error(f"no {args.set} instances in {args.data}")
    if args.instances:
        paths = [p for p in paths if p.stem in args.instances]
    if args.per_class:
        seen: dict[str, int] = {}
        kept = []
        for p in paths:
            cls = p.stem.split("_")[0] if "_" in p.stem else p.stem[:-2]
            seen[cls] = seen.get(cls, 0) + 1
            if seen[cls] <= args.per_class:
                kept.append(p)
        paths = kept
    lines = []
    for budget in args.budget:
        header = (
            f"| instance | best known | {' | '.join(solvers)} | gap {' | gap '.join(solvers)} |"
        )
        lines += [f"\n### {args.set}, {budget:g} s per instance\n", header,
                  "|" + "---|" * (2 + 2 * len(solvers))]  # fmt: skip
        gaps: dict[str, dict[str, list[float]]] = {s: {} for s in solvers}
        for path in paths:
            inst = load(path)
            row = [inst.name, f"{inst.best:.1f}"]
            found: dict[str, float] = {}
            for name in solvers:
                clock = time.perf_counter()
                if name == "ours":
                    routes = ours(inst, budget)
                elif name == "full":
                    routes = full(inst, budget)
                elif name == "ortools":
                    routes = ortools_only(inst, budget)
                elif name == "pyvrp":
                    routes = with_pyvrp(path, budget)
                else:
                    routes = with_vroom(inst, budget)
                took = time.perf_counter() - clock
                if feasible(inst, routes):
                    found[name] = cost(inst, routes)
                    row.append(f"{found[name]:.1f} ({took:.1f} s)")
                else:
                    row.append(f"infeasible ({took:.1f} s)")
            for name in solvers:
                if name in found:
                    gap = (found[name] - inst.best) / inst.best * 100
                    gaps[name].setdefault(inst.name[:-2], []).append(gap)  # C1, R2, RC1, ...
                    row.append(f"{gap:.2f}%")
                else:
                    row.append("–")
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
        lines.append("\n| class | " + " | ".join(f"mean gap {s}" for s in solvers) + " |")
        lines.append("|" + "---|" * (1 + len(solvers)))
        classes = sorted({c for g in gaps.values() for c in g})
        for cls in [*classes, "all"]:
            cells = []
            for name in solvers:
                values = (
                    [v for vs in gaps[name].values() for v in vs]
                    if cls == "all"
                    else gaps[name].get(cls, [])
                )
                cells.append(f"{statistics.mean(values):.2f}% (n={len(values)})" if values else "–")
            lines.append(f"| {cls} | " + " | ".join(cells) + " |")
        print("\n".join(lines[-len(classes) - 3 :]), flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
