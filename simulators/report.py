"""The load run's report: a terminal table, a JSON file for machines."""

from __future__ import annotations

import base64
import html
import io
import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from simulators.loadrun import RunResult
from simulators.metrics import STAGES, check_slos, percentile


def _ms(values: list[float], q: float) -> float | None:
    p = percentile(values, q)
    return None if p is None else round(p * 1000, 1)


def write_html(summary: dict[str, Any], result: RunResult, path: Path) -> None:
    """A page a person would rather look at: latency over time, percentiles, open calls."""
    import matplotlib

    matplotlib.use("Agg")  # no screen; draw to memory
    from matplotlib import pyplot as plt

    m = result.metrics
    figure, (over_time, stages, queue) = plt.subplots(3, 1, figsize=(9, 11))
    for stage, colour in zip(STAGES, ("#1f77b4", "#d62728", "#2ca02c", "#9467bd"), strict=True):
        points = [(t, v) for t, s, v in m.samples if s == stage]
        if points:
            over_time.scatter(
                [t for t, _ in points],
                [v * 1000 for _, v in points],
                s=8,
                color=colour,
                label=stage,
            )
    over_time.set(
        title="Latency from the press, over the run",
        xlabel="run time (s)",
        ylabel="ms",
        yscale="log",
    )
    over_time.legend()
    names = list(summary["stages_ms"])
    for offset, q in enumerate(("p50", "p95", "p99")):
        values = [summary["stages_ms"][n][q] or 0 for n in names]
        stages.bar([i + offset * 0.27 for i in range(len(names))], values, width=0.27, label=q)
    stages.axhline(
        summary["broker_round_trip_ms"]["p50"],
        color="grey",
        linestyle="--",
        label="bare broker round trip (p50)",
    )
    stages.set(
        title="Percentiles by stage",
        ylabel="ms (log)",
        yscale="log",
        xticks=[i + 0.27 for i in range(len(names))],
        xticklabels=names,
    )
    stages.legend()
    if m.open_calls:
        queue.plot([t for t, _ in m.open_calls], [n for _, n in m.open_calls])
    queue.set(
        title="Help calls not yet reached (queue depth)", xlabel="run time (s)", ylabel="calls"
    )
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=90)
    plt.close(figure)
    rows = []
    for check in summary["slo"]:
        actual = "-" if check["actual"] is None else f"{check['actual']:.3g}"
        verdict = "<td class=ok>met</td>" if check["ok"] else "<td class=missed>MISSED</td>"
        rows.append(
            f"<tr><td>{html.escape(check['name'])}</td><td>{check['target']:g}</td>"
            f"<td>{actual}</td>{verdict}</tr>"
        )
    checks = "".join(rows)
    facts = "".join(
        f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
        if k not in ("stages_ms", "slo")
    )
    path.write_text(
        "<!doctype html><meta charset=utf-8><title>CareBell load run: "
        f"{html.escape(summary['scenario'])}</title><style>body{{font:16px system-ui;"
        "margin:2em;max-width:60em}}td{{padding:.2em .8em}}.ok{{color:green}}"
        ".missed{{color:#b00;font-weight:bold}}</style>"
        f"<h1>{html.escape(summary['scenario'])}: "
        f"{'SLOs met' if summary['ok'] else 'SLO MISSED'}</h1>"
        f"<table>{checks}</table><h2>Figures</h2><table>{facts}</table>"
        f"<img alt='latency charts' src='data:image/png;base64,"
        f"{base64.b64encode(image.getvalue()).decode()}'>",
        encoding="utf-8",
    )


def summarize(result: RunResult) -> dict[str, Any]:
    m, s = result.metrics, result.scenario
    journeys = list(m.journeys.values())
    scale = s.caregivers.time_scale
    judged = [j for j in journeys if j.deadline_s is not None]
    on_time = [
        j
        for j in judged
        if j.arrived_at is not None and (j.latency("arrived") or 0) * scale <= (j.deadline_s or 0)
    ]
    checks = check_slos(
        m,
        press_to_push_p99_s=s.slo.press_to_push_p99_s,
        lost=s.slo.lost,
        duplicated=s.slo.duplicated,
        found_lost=result.lost,
        found_duplicated=result.duplicated,
    )
    pushed = m.latencies("pushed")
    base = result.baseline_ms
    return {
        "scenario": s.name,
        "devices": result.devices,
        "events_sent": m.events_sent,
        "events_by_type": dict(sorted(m.sent_by_type.items())),
        "devices_silenced": m.silenced,
        "help_calls": len(journeys),
        "stages_ms": {
            stage: {
                q: _ms(m.latencies(stage), v)
                for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
            }
            for stage in STAGES
        },
        "reached_by_deadline": round(len(on_time) / len(judged), 3) if judged else None,
        "lost": result.lost,
        "duplicated": result.duplicated,
        "offers_expired": m.offers_expired,
        "escalations": m.escalations,
        "server_cpu_percent": {
            "mean": round(statistics.mean(result.server_cpu), 1),
            "max": round(max(result.server_cpu), 1),
        }
        if result.server_cpu
        else None,
        "server_rss_mb_max": round(max(result.server_rss_mb), 1) if result.server_rss_mb else None,
        "broker_round_trip_ms": {
            "p50": round(statistics.median(base), 2),
            "p99": round(percentile(base, 0.99) or 0, 2),
        },
        "press_to_push_over_broker_median": round(
            statistics.median(pushed) * 1000 / statistics.median(base), 1
        )
        if pushed and base
        else None,
        "slo": [
            {"name": c.name, "target": c.target, "actual": c.actual, "ok": c.ok} for c in checks
        ],
        "ok": all(c.ok for c in checks),
    }


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    stages = Table(
        title=f"{summary['scenario']}: {summary['help_calls']} help calls from "
        f"{summary['devices']} devices ({summary['events_sent']} events)"
    )
    stages.add_column("from the press to…")
    for q in ("p50", "p95", "p99"):
        stages.add_column(f"{q} ms", justify="right")
    for stage, values in summary["stages_ms"].items():
        stages.add_row(
            stage,
            *("-" if values[q] is None else f"{values[q]:.0f}" for q in ("p50", "p95", "p99")),
        )
    base = summary["broker_round_trip_ms"]
    stages.add_row("bare broker round trip", f"{base['p50']:.2f}", "", f"{base['p99']:.2f}")
    console.print(stages)
    facts = Table(show_header=False)
    for key in (
        "reached_by_deadline",
        "lost",
        "duplicated",
        "offers_expired",
        "escalations",
        "events_by_type",
        "devices_silenced",
        "server_cpu_percent",
        "server_rss_mb_max",
        "press_to_push_over_broker_median",
    ):
        facts.add_row(key.replace("_", " "), str(summary[key]))
    console.print(facts)
    slo = Table(title="SLOs")
    for column in ("objective", "target", "actual", ""):
        slo.add_column(column)
    for check in summary["slo"]:
        actual = "-" if check["actual"] is None else f"{check['actual']:.3g}"
        slo.add_row(
            check["name"],
            f"{check['target']:g}",
            actual,
            "[green]met[/]" if check["ok"] else "[red]MISSED[/]",
        )
    console.print(slo)


def write_json(summary: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
