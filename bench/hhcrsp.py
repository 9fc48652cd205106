"""Our planner on the home health care instances of Mankowska et al. (2014).

Caregivers with skills, patients with time windows, and about a third of the
patients needing two services by two different caregivers, at once or one after
the other within a lag: the constraints of a care bureau's day that only our
OR-Tools model expresses (PyVRP and VROOM have no synchronised visits, so they
are not in this table). Data and rules: ../shared/data/hhcrsp/README.md.

    .venv/bin/python bench/hhcrsp.py --budget 1 10 [--families A B C] [--out table.md]

The instance's objective is (D + T + Tmax) / 3: travel distance, total tardiness
over every service, and the largest tardiness. Our model minimises D + T (a
window's end is soft at one unit of cost per unit late); every solution is
re-evaluated under the instance's rules by the checker below (each service once
by a qualified caregiver, two services of one patient on two caregivers, start
no earlier than the window, the lags), and one that breaks a rule is marked.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from dispatch.planning import lns, solver
from dispatch.planning.model import Link, Plan, RoutingProblem, Stop, TimeWindow, Worker

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "hhcrsp" / "mankowska"
SCALE = 100  # distances and times to hundredths, as integers


@dataclass(frozen=True)
class Service:
    id: str
    node: int
    skill: int


@dataclass(frozen=True)
class Instance:
    name: str
    dist: list[list[float]]
    services: list[Service]
    windows: list[tuple[float, float]]  # per node: the start of service
    duration: float
    qualified: list[set[int]]  # per caregiver
    links: list[tuple[str, str, float, float]]  # first, second, min lag, max lag
    end_depot: int
    best: float


def _blocks(path: Path) -> dict[str, list[list[float]]]:
    blocks: dict[str, list[list[float]]] = {}
    key = ""
    for line in path.read_text().splitlines():
        words = line.split()
        if not words:
            continue
        if words[0][0].isalpha():
            key = words[0]
            blocks[key] = []
        else:
            blocks[key].append([float(w) for w in words])
    return blocks


def load(data: Path, name: str, file: str, best: float) -> Instance:
    b = _blocks(data / file)
    n_nodes, n_vehicles = int(b["nbNodes"][0][0]), int(b["nbVehi"][0][0])
    required = b["r"]
    double = {int(x) - 1 for x in b["DS"][0]}
    e, late = b["e"][0], b["l"][0]
    mind, maxd = b["mind"][0], b["maxd"][0]
    services, links = [], []
    for node in range(1, n_nodes - 1):
        skills = [s for s, need in enumerate(required[node]) if need]
        ids = [f"{node}/{s}" for s in skills]
        services += [Service(i, node, s) for i, s in zip(ids, skills, strict=True)]
        if node in double:
            assert len(ids) == 2
            links.append((ids[0], ids[1], mind[node], maxd[node]))  # lower skill first
    duration = next(v for row in b["p"] for v in row if v > 0)
    return Instance(
        name=name,
        dist=b["d"],
        services=services,
        windows=list(zip(e, late, strict=True)),
        duration=duration,
        qualified=[{s for s, ok in enumerate(row) if ok} for row in b["a"][:n_vehicles]],
        links=links,
        end_depot=n_nodes - 1,
        best=best,
    )


def problem_of(inst: Instance) -> RoutingProblem:
    def scaled(x: float) -> int:
        return round(x * SCALE)

    travel = [[scaled(d) for d in row] for row in inst.dist]
    horizon = scaled(10_000)  # no shift limit in these instances
    stops = [
        Stop(
            id=s.id,
            location=s.node,
            duration_s=scaled(inst.duration),
            window=TimeWindow(scaled(inst.windows[s.node][0]), scaled(inst.windows[s.node][1])),
            skills=frozenset({f"s{s.skill}"}),
            late_cost_per_s=1,
        )
        for s in inst.services
    ]
    workers = [
        Worker(str(v), 0, inst.end_depot, TimeWindow(0, horizon), frozenset(f"s{s}" for s in q))
        for v, q in enumerate(inst.qualified)
    ]
    links = [Link(a, b, scaled(lo), scaled(hi)) for a, b, lo, hi in inst.links]
    return RoutingProblem(
        travel_s=travel, stops=stops, workers=workers, links=links, worst_late_cost_per_s=1
    )


def evaluate(inst: Instance, plan: Plan) -> tuple[float, float, float] | str:
    """(D, T, Tmax) under the instance's rules, or the first rule broken."""
    if plan.unplanned:
        return f"{len(plan.unplanned)} services unplanned"
    by_id = {s.id: s for s in inst.services}
    start: dict[str, float] = {}
    who: dict[str, int] = {}
    distance = 0.0
    for route in plan.routes:
        v = int(route.worker_id)
        here, t = 0, 0.0
        for planned in route.stops:
            s = by_id[planned.stop_id]
            if s.skill not in inst.qualified[v]:
                return f"{s.id} by an unqualified caregiver"
            begin = planned.start_s / SCALE
            # Travel is rounded to hundredths in the model: allow that much per leg.
            if begin + 0.01 * (len(start) + 1) < max(
                t + inst.dist[here][s.node], inst.windows[s.node][0]
            ):
                return f"{s.id} starts before it can"
            distance += inst.dist[here][s.node]
            start[s.id], who[s.id] = begin, v
            here, t = s.node, begin + inst.duration
        distance += inst.dist[here][inst.end_depot]
    if set(start) != set(by_id):
        return "a service is done twice or not at all"
    for a, b, lo, hi in inst.links:
        if who[a] == who[b]:
            return f"{a} and {b} by the same caregiver"
        if not lo - 0.011 <= start[b] - start[a] <= hi + 0.011:  # hundredths
            return f"{a} -> {b} outside its lag"
    late = [max(0.0, start[s.id] - inst.windows[s.node][1]) for s in inst.services]
    return distance, sum(late), max(late)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--families", nargs="*", default=list("ABCDEFG"))
    parser.add_argument("--solver", default="lns", choices=["lns", "ortools"])
    parser.add_argument("--per-family", type=int, default=10, help="first N files of each")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--data", type=Path, default=DATA, help="the mankowska data folder")
    args = parser.parse_args()
    with (args.data / "index.csv").open() as f:
        index = [
            r
            for r in csv.DictReader(f)
            if r["instance"][0] in args.families and int(r["instance"][1:]) <= args.per_family
        ]
    lns.warm_up()  # the search's compiled code loads outside the timings
    lines = []
    for budget in args.budget:
        lines += [
            f"\n### Mankowska HHCRSP, {budget:g} s per instance\n",
            "| instance | patients | best known | ours | gap | D | T | Tmax | time |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        gaps: dict[str, list[float]] = {}
        for row in index:
            inst = load(args.data, row["instance"], row["file"], float(row["bks"]))
            clock = time.perf_counter()
            solve = lns.solve if args.solver == "lns" else solver.solve
            plan = solve(problem_of(inst), budget)
            took = time.perf_counter() - clock
            result = evaluate(inst, plan)
            if isinstance(result, str):
                cells = [f"broken: {result}", "–", "–", "–", "–"]
            else:
                d, t, tmax = result
                cost = (d + t + tmax) / 3
                gap = (cost - inst.best) / inst.best * 100
                gaps.setdefault(inst.name[0], []).append(gap)
                cells = [f"{cost:.1f}", f"{gap:.1f}%", f"{d:.1f}", f"{t:.1f}", f"{tmax:.1f}"]
            lines.append(
                f"| {inst.name} | {row['patients']} | {inst.best:.1f} | "
                + " | ".join(cells)
                + f" | {took:.1f} s |"
            )
            print(lines[-1], flush=True)
        lines += ["\n| family | mean gap | solved |", "|---|---|---|"]
        for family in args.families:
            values = gaps.get(family, [])
            total = sum(1 for r in index if r["instance"][0] == family)
            mean = f"{statistics.mean(values):.1f}%" if values else "–"
            lines.append(f"| {family} | {mean} | {len(values)}/{total} |")
        print("\n".join(lines[-len(args.families) - 2 :]), flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
