"""Matcher benchmark: decision time, batch quality, and a one-hour surge replay.

    .venv/bin/python bench/matcher.py            # all three parts, fixed seed

1. One new alert among 2,000 caregivers: decision time (Redis GEOSEARCH on a private
   redis-server + candidate filtering + OR-Tools solve), p50/p99.
2. 200 simultaneous alerts over 2,000 caregivers: time, and total weighted cost
   against the exact optimum (scipy's linear_sum_assignment on the same cost
   matrix) and against greedy nearest-first on the same candidates.
3. A one-hour surge replayed twice on the same event stream: our batch policy
   (a solve every 5 s epoch) beside nearest-idle-first; mean and p95 arrival
   time, share of alerts reached by their deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psutil
from ortools.graph.python import min_cost_flow
from scipy.optimize import linear_sum_assignment

from config.settings import Settings
from dispatch.domain.model import AlertType, GeoPoint, Shift, TransportMode
from dispatch.live.bus import LiveBus
from dispatch.matching.arcs import allowed_arcs
from dispatch.matching.assignment import cheapest_arcs
from dispatch.matching.matcher import (
    UNASSIGNED_COST_S,
    Candidate,
    CaregiverTable,
    Decision,
    Found,
    MatchPolicy,
    MatchSnapshot,
    WaitingAlert,
    assign,
    options,
    weighted,
)
from dispatch.matching.travel import DetourTravelModel
from dispatch.runtime.catalog_file import load_catalog
from simulators import local_services

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 14, 0, tzinfo=TZ)
CENTER = GeoPoint(30.2741, 120.1551)
CITY_RADIUS_M = 10_000
ALL_DAY = Shift(clock(0, 0), clock(23, 59, 59))
TRAVEL = DetourTravelModel()
POLICY = MatchPolicy()
CATALOG = load_catalog(Settings().alert_types_file)
KINDS = [CATALOG.alert_types[c] for c in ("help_button", "door_bell", "sos", "fall")]
KIND_WEIGHTS = [0.5, 0.2, 0.15, 0.15]
COUNT = 30  # the dispatcher's GEOSEARCH COUNT (DispatchPolicy.candidates_per_alert)
SEARCH_VARIANTS: list[tuple[int, str, dict[str, float]]] = [
    (COUNT, "one district search (the default)", {}),
    (COUNT, "one search per alert, 1.5 km first", {"district_radius_m": 0}),
    (
        COUNT,
        "one search per alert at its full radius (before)",
        {"district_radius_m": 0, "first_radius_m": 10_000},
    ),
    (20, "one district search", {}),
    (15, "one district search", {}),
]


def around(rng: random.Random, center: GeoPoint, radius_m: float) -> GeoPoint:
    r, a = radius_m * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return GeoPoint(
        center.lat + r * math.cos(a) / 111_195,
        center.lon + r * math.sin(a) / (111_195 * math.cos(math.radians(center.lat))),
    )


def make_caregivers(rng: random.Random, n: int) -> list[Candidate]:
    modes = [TransportMode.EBIKE] * 7 + [TransportMode.WALK] * 2 + [TransportMode.CAR]
    return [
        Candidate(
            uuid.uuid4(),
            around(rng, CENTER, CITY_RADIUS_M),
            frozenset({"basic_care", "first_aid"} if rng.random() < 0.4 else {"basic_care"}),
            ALL_DAY,
            rng.choice(modes),
        )
        for _ in range(n)
    ]


def make_alert(rng: random.Random, at: datetime, center: GeoPoint, radius_m: float) -> WaitingAlert:
    kind: AlertType = rng.choices(KINDS, weights=KIND_WEIGHTS)[0]
    return WaitingAlert(uuid.uuid4(), around(rng, center, radius_m), kind, at)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def search_radius_m(alert: WaitingAlert) -> float:
    """The dispatcher's rule (Dispatcher._search_radius_m): reach by the deadline, x1.5."""
    left_s = (alert.deadline - NOW).total_seconds()
    if left_s <= 0:
        return 10_000.0
    reach = max(TRAVEL.reach_m(left_s, mode) for mode in TransportMode)
    return min(10_000.0, max(3_000.0, 1.5 * reach))


# -- 1. one alert among 2,000 ---------------------------------------------------


async def single_decisions(
    bus: LiveBus, caregivers: list[Candidate], n: int, rng: random.Random
) -> tuple[list[float], list[float]]:
    by_id = {str(c.caregiver_id): c for c in caregivers}
    lookup_ms, decision_ms = [], []
    for _ in range(n):
        alert = make_alert(rng, NOW, CENTER, CITY_RADIUS_M)
        start = time.perf_counter()
        hits = await bus.nearby(
            alert.position.lat, alert.position.lon, search_radius_m(alert), COUNT
        )
        looked = time.perf_counter()
        candidates = tuple(
            replace(by_id[h.caregiver_id], position=GeoPoint(h.lat, h.lon)) for h in hits
        )
        assign(MatchSnapshot(NOW, (alert,), candidates), TRAVEL, POLICY)
        done = time.perf_counter()
        lookup_ms.append((looked - start) * 1000)
        decision_ms.append((done - start) * 1000)
    return lookup_ms, decision_ms


# -- 2. a batch of 200 ------------------------------------------------------------


def cost_matrix(snapshot: MatchSnapshot) -> np.ndarray:
    """The snapshot's costs as scipy's dense solver takes them: one row per caregiver
    an alert needs, a column per caregiver, plus one 'unassigned' column per row."""
    alerts, n_cgs = snapshot.alerts, len(snapshot.caregivers)
    arcs = allowed_arcs(snapshot, TRAVEL, POLICY)
    row_start = np.concatenate(([0], np.cumsum([a.slots for a in alerts])))
    n_rows = int(row_start[-1])
    cost = np.full((n_rows, n_cgs + n_rows), np.inf)
    for i, a in enumerate(alerts):
        ks = slice(arcs.first[i], arcs.first[i + 1])
        for r in range(row_start[i], row_start[i + 1]):
            cost[r, arcs.caregiver[ks]] = arcs.weighted[ks]
            cost[r, n_cgs + r] = weighted(a, UNASSIGNED_COST_S)
    return cost


def optimum(cost: np.ndarray) -> int:
    return int(cost[linear_sum_assignment(cost)].sum())


def greedy_nearest_first(snapshot: MatchSnapshot) -> list[float | None]:
    """Each alert in turn takes its nearest free candidate; returns each one's cost."""
    taken: set[uuid.UUID] = set()
    costs: list[float | None] = []
    for opts in options(snapshot, TRAVEL, POLICY):
        by_eta = sorted(opts, key=lambda o: o.eta_s)
        pick = next((o for o in by_eta if o.caregiver_id not in taken), None)
        if pick is not None:
            taken.add(pick.caregiver_id)
        costs.append(None if pick is None else pick.cost_s)
    return costs


def served(alerts: tuple[WaitingAlert, ...], costs: list[float | None]) -> tuple[int, int, int]:
    """(alerts served, weighted cost of the served ones, objective with the unserved)."""
    n = sum(c is not None for c in costs)
    total = sum(weighted(a, c) for a, c in zip(alerts, costs, strict=True) if c is not None)
    unserved = sum(
        weighted(a, UNASSIGNED_COST_S) for a, c in zip(alerts, costs, strict=True) if c is None
    )
    return n, total, total + unserved


def objective(snapshot: MatchSnapshot, decisions: list[Decision]) -> int:
    return sum(
        sum(weighted(a, o.cost_s) for o in d.chosen)
        + (a.slots - len(d.chosen)) * weighted(a, UNASSIGNED_COST_S)
        for a, d in zip(snapshot.alerts, decisions, strict=True)
    )


class Fleet:
    """The caregivers as a server keeps them between rounds: one table, and each
    one's row by the id Redis answers."""

    def __init__(self, caregivers: list[Candidate]) -> None:
        self.table = CaregiverTable.of(caregivers)
        self.row = {str(c.caregiver_id): j for j, c in enumerate(caregivers)}


async def lookup_and_match(
    bus: LiveBus,
    fleet: Fleet,
    alerts: tuple[WaitingAlert, ...],
    count: int = COUNT,
    search: dict[str, float] | None = None,
) -> tuple[MatchSnapshot, list[Decision], float, float]:
    """What a dispatch round does between the database reads: the Redis candidate
    search, the snapshot, the matcher. Returns ms spent on Redis and in total."""
    start = time.perf_counter()
    searches = [(a.position.lat, a.position.lon, search_radius_m(a)) for a in alerts]
    found = await bus.nearby_hits(searches, count, **(search or {}))
    looked = time.perf_counter()
    # As the dispatcher does: the fleet's rows, Redis's positions and report times.
    rows = np.fromiter(map(fleet.row.__getitem__, found.names), np.int64, len(found.names))
    age_s = np.maximum(0.0, time.time() - found.seen_at)
    snapshot = MatchSnapshot(
        NOW,
        alerts,
        fleet.table.take(rows, found.lat, found.lon, age_s),
        Found(found.first, found.member),
    )
    decisions = assign(snapshot, TRAVEL, POLICY)
    done = time.perf_counter()
    return snapshot, decisions, (looked - start) * 1000, (done - start) * 1000


def solver_times_ms(snapshot: MatchSnapshot, same_costs: np.ndarray, runs: int) -> dict[str, float]:
    """The assignment alone, on the same arcs, by each exact solver (ADR 0004)."""
    arcs = allowed_arcs(snapshot, TRAVEL, POLICY)
    slots = np.array([a.slots for a in snapshot.alerts], dtype=np.int64)
    unassigned = np.array([weighted(a, UNASSIGNED_COST_S) for a in snapshot.alerts], dtype=np.int64)
    n_alerts, n_cgs = len(slots), len(snapshot.caregivers)

    def ortools_flow() -> None:
        flow = min_cost_flow.SimpleMinCostFlow()
        sink = n_alerts + n_cgs
        flow.add_arcs_with_capacity_and_unit_cost(
            np.concatenate([arcs.alert, np.arange(n_alerts), n_alerts + np.arange(n_cgs)]),
            np.concatenate([n_alerts + arcs.caregiver, np.full(n_alerts + n_cgs, sink)]),
            np.concatenate([np.ones(len(arcs), np.int64), slots, np.ones(n_cgs, np.int64)]),
            np.concatenate([arcs.weighted, unassigned, np.zeros(n_cgs, np.int64)]),
        )
        flow.set_nodes_supplies(
            np.arange(sink + 1),
            np.concatenate([slots, np.zeros(n_cgs, np.int64), [-slots.sum()]]),
        )
        assert flow.solve() == flow.OPTIMAL

    solvers: dict[str, Callable[[], object]] = {
        "scipy LAPJVsp (ours)": lambda: cheapest_arcs(
            arcs.alert, arcs.caregiver, arcs.weighted, slots, unassigned
        ),
        "scipy linear_sum_assignment, dense": lambda: linear_sum_assignment(same_costs),
        "OR-Tools min-cost flow, arcs as arrays": ortools_flow,
    }
    times: dict[str, list[float]] = {name: [] for name in solvers}
    for _ in range(runs):
        for name, solve in solvers.items():
            times[name].append(timed_ms(solve))
    return {name: statistics.median(t) for name, t in times.items()}


def server_cpu_s(process: psutil.Process) -> float:
    cpu = process.cpu_times()
    return float(cpu.user + cpu.system)


def timed_ms(solve: Callable[[], object]) -> float:
    start = time.perf_counter()
    solve()
    return (time.perf_counter() - start) * 1000


async def batch(
    bus: LiveBus,
    redis_server: psutil.Process,
    caregivers: list[Candidate],
    rng: random.Random,
    runs: int,
) -> dict[str, Any]:
    fleet = Fleet(caregivers)
    storm = around(rng, CENTER, 3000)  # a heat wave hits one district hardest
    alerts = tuple(
        make_alert(rng, NOW - timedelta(seconds=rng.uniform(0, 120)), storm, 2500)
        for _ in range(200)
    )
    whole_city = cost_matrix(MatchSnapshot(NOW, alerts, tuple(caregivers)))
    snapshot, _, _, _ = await lookup_and_match(bus, fleet, alerts)
    same_costs = cost_matrix(snapshot)
    times: dict[str, list[float]] = {
        k: [] for k in ("redis", "total", "scipy", "scipy city", "cpu", "scipy cpu")
    }
    redis_cpu_s = server_cpu_s(redis_server)
    for _ in range(runs):  # interleaved, so a busy moment hits every figure alike
        cpu = time.process_time()
        snapshot, decisions, redis_ms, total_ms = await lookup_and_match(bus, fleet, alerts)
        times["cpu"].append((time.process_time() - cpu) * 1000)
        times["redis"].append(redis_ms)
        times["total"].append(total_ms)
        cpu = time.process_time()
        times["scipy"].append(timed_ms(lambda: linear_sum_assignment(same_costs)))
        times["scipy cpu"].append((time.process_time() - cpu) * 1000)
        times["scipy city"].append(timed_ms(lambda: linear_sum_assignment(whole_city)))
    # Only the lookups above used Redis; its clock ticks are too coarse for one run.
    redis_cpu_ms = (server_cpu_s(redis_server) - redis_cpu_s) * 1000 / runs
    variants = []
    for count, name, search in SEARCH_VARIANTS:
        runs_ms = [
            (await lookup_and_match(bus, fleet, alerts, count, search))[2:]
            for _ in range(max(3, runs // 3))
        ]
        snap, decided, _, _ = await lookup_and_match(bus, fleet, alerts, count, search)
        variants.append(
            (
                count,
                name,
                statistics.median(r for r, _ in runs_ms),
                statistics.median(t for _, t in runs_ms),
                len(snap.caregivers),
                objective(snap, decided),
            )
        )
    return {
        "ms": {k: statistics.median(v) for k, v in times.items()} | {"redis cpu": redis_cpu_ms},
        "candidates": len(snapshot.caregivers),
        "ours": served(alerts, [d.chosen[0].cost_s if d.chosen else None for d in decisions]),
        "objective": objective(snapshot, decisions),
        "optimum": optimum(same_costs),
        "city optimum": optimum(whole_city),
        "greedy": served(alerts, greedy_nearest_first(snapshot)),
        "variants": variants,
        "shape": same_costs.shape,
        "solvers": solver_times_ms(snapshot, same_costs, runs),
    }


# -- 3. a one-hour surge -------------------------------------------------------------


@dataclass
class Outcome:
    arrivals_s: list[float]
    on_time: int
    total: int


def replay(
    events: list[WaitingAlert],
    caregivers: list[Candidate],
    batch_policy: bool,
    epoch_s: float = 5.0,
) -> Outcome:
    free_at = {c.caregiver_id: NOW for c in caregivers}
    where = {c.caregiver_id: c for c in caregivers}
    queue: list[WaitingAlert] = []
    arrivals, on_time = [], 0
    pending = sorted(events, key=lambda a: a.raised_at)
    clock_now = NOW
    end = NOW + timedelta(hours=3)
    while (pending or queue) and clock_now < end:
        while pending and pending[0].raised_at <= clock_now:
            queue.append(pending.pop(0))
        idle = tuple(where[c] for c, t in free_at.items() if t <= clock_now)
        if queue and idle:
            snapshot = MatchSnapshot(clock_now, tuple(queue), idle)
            if batch_policy:
                picks = {
                    d.alert_id: d.chosen[0] for d in assign(snapshot, TRAVEL, POLICY) if d.chosen
                }
            else:  # nearest idle first, alerts in the order they came
                picks, taken = {}, set()
                for alert, opts in zip(queue, options(snapshot, TRAVEL, POLICY), strict=True):
                    by_eta = sorted(opts, key=lambda o: o.eta_s)
                    pick = next((o for o in by_eta if o.caregiver_id not in taken), None)
                    if pick is not None:
                        picks[alert.alert_id] = pick
                        taken.add(pick.caregiver_id)
            for alert in list(queue):
                pick = picks.get(alert.alert_id)
                if pick is None:
                    continue
                queue.remove(alert)
                arrival = clock_now + timedelta(seconds=pick.eta_s)
                arrivals.append((arrival - alert.raised_at).total_seconds())
                on_time += arrival <= alert.deadline
                cg = where[pick.caregiver_id]
                free_at[cg.caregiver_id] = arrival + timedelta(seconds=alert.alert_type.on_scene_s)
                where[cg.caregiver_id] = replace(cg, position=alert.position)
        clock_now += timedelta(seconds=epoch_s)
    return Outcome(arrivals, on_time, len(events))


def surge(rng: random.Random, caregivers: int, alerts_per_hour: int) -> tuple[Outcome, Outcome]:
    team = make_caregivers(rng, caregivers)
    events, t = [], 0.0
    while True:
        t += rng.expovariate(alerts_per_hour / 3600)
        if t > 3600:
            break
        events.append(make_alert(rng, NOW + timedelta(seconds=t), CENTER, CITY_RADIUS_M * 0.7))
    return replay(events, team, batch_policy=True), replay(events, team, batch_policy=False)


async def main_async(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="carebell-matcher-"))
    redis = local_services.redis(work).start()
    bus = LiveBus.from_url(redis.url, "bench")
    load_before = os.getloadavg()
    try:
        caregivers = make_caregivers(rng, 2000)
        for c in caregivers:
            await bus.set_position(str(c.caregiver_id), c.position.lat, c.position.lon)
        lookup, decision = await single_decisions(bus, caregivers, args.alerts, rng)
        assert redis.process is not None
        result = await batch(bus, psutil.Process(redis.process.pid), caregivers, rng, args.runs)
    finally:
        await bus.close()
        redis.stop()
    load_after = os.getloadavg()

    print(
        f"Matcher benchmark (seed {args.seed}; 2,000 caregivers over a "
        f"{CITY_RADIUS_M / 1000:.0f} km-radius city; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after)\n"
    )
    print("| measure | figure |\n|---|---|")
    print(
        f"| one alert: Redis GEOSEARCH alone, p50 / p99 | {pct(lookup, 0.5):.2f} / "
        f"{pct(lookup, 0.99):.2f} ms |"
    )
    print(
        f"| one alert: decision incl. Redis, p50 / p99 | {pct(decision, 0.5):.2f} / "
        f"{pct(decision, 0.99):.2f} ms |"
    )
    ms = result["ms"]
    rows, cols = result["shape"]
    print(f"| 200 alerts: Redis candidate search, median of {args.runs} | {ms['redis']:.1f} ms |")
    print(
        f"| 200 alerts: Redis + snapshot + matcher, median of {args.runs} | {ms['total']:.1f} ms "
        f"({result['candidates']} candidates) |"
    )
    print(
        f"| same run: scipy linear_sum_assignment on the same costs ({rows} x {cols}) "
        f"| {ms['scipy']:.1f} ms |"
    )
    print(f"| ours / scipy, wall clock (target <= 3) | {ms['total'] / ms['scipy']:.2f} |")
    ours_cpu = ms["cpu"] + ms["redis cpu"]
    print(
        f"| CPU, median of {args.runs}: ours (this process {ms['cpu']:.1f} ms + redis-server "
        f"{ms['redis cpu']:.1f} ms) / scipy {ms['scipy cpu']:.1f} ms | "
        f"{ours_cpu / ms['scipy cpu']:.2f} |"
    )
    print(
        "| same run: scipy on the whole city's costs (200 x 2,000 + 200, no pruning) "
        f"| {ms['scipy city']:.1f} ms |"
    )
    verdict = "equal" if result["objective"] == result["optimum"] else "DIFFERENT"
    print(
        f"| 200 alerts: objective ours / exact optimum on the same costs | {verdict} "
        f"({result['objective']:,}) |"
    )
    city = result["city optimum"]
    print(
        f"| 200 alerts: objective ours / whole-city optimum | {result['objective']:,} / "
        f"{city:,} (+{100 * (result['objective'] - city) / city:.1f}%) |"
    )
    (n_ours, w_ours, _), (n_greedy, w_greedy, _) = result["ours"], result["greedy"]
    print(f"| 200 alerts: served, ours / greedy nearest-first | {n_ours} / {n_greedy} |")
    print(
        f"| 200 alerts: objective over the alerts served, ours / greedy | {w_ours:,} / "
        f"{w_greedy:,} |"
    )
    print(f"\nThe assignment alone, on the same {result['candidates']} candidates, median ms\n")
    print("| solver | ms |\n|---|---|")
    for name, solver_ms in result["solvers"].items():
        print(f"| {name} | {solver_ms:.2f} |")
    print("\nCandidate search variants, the same 200 alerts (wall clock, median)\n")
    print("| COUNT | search | Redis | total | candidates | objective | vs whole city |")
    print("|---|---|---|---|---|---|---|")
    for count, name, redis_ms, total_ms, n_cands, obj in result["variants"]:
        print(
            f"| {count} | {name} | {redis_ms:.1f} ms | {total_ms:.1f} ms | {n_cands} "
            f"| {obj:,} | +{100 * (obj - city) / city:.1f}% |"
        )
    print(
        f"\nSurge replay: one hour of alerts, {args.surge_caregivers} caregivers, each policy "
        "on the same event stream\n"
    )
    print("| alerts/hour | policy | mean arrival | p95 arrival | reached by deadline |")
    print("|---|---|---|---|---|")
    for rate in args.surge_rates:
        ours, nearest = surge(random.Random(args.seed + rate), args.surge_caregivers, rate)
        for name, o in (("CareBell batch (5 s epochs)", ours), ("nearest idle first", nearest)):
            mean_min, p95_min = statistics.mean(o.arrivals_s) / 60, pct(o.arrivals_s, 0.95) / 60
            print(
                f"| {rate} ({o.total} alerts) | {name} | {mean_min:.1f} min | {p95_min:.1f} min "
                f"| {100 * o.on_time / o.total:.1f}% |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description="CareBell matcher benchmark")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--alerts", type=int, default=500, help="single-alert decisions")
    parser.add_argument("--runs", type=int, default=30, help="timed runs of the 200-alert batch")
    parser.add_argument("--surge-caregivers", type=int, default=60)
    parser.add_argument(
        "--surge-rates",
        type=int,
        nargs="+",
        default=[60, 110],
        help="alerts per hour, one replay each",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
