"""The monthly report's trend charts, drawn once by matplotlib as SVG: the page shows
them inline and the PDF embeds the same drawings (docs/architecture.md)."""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

# The KPIs drawn over the trend's months, in the report's order.
CHARTED = (
    "answered_within_60s",
    "reached_by_deadline",
    "false_alarm_rate",
    "visit_coverage",
    "satisfaction_mean",
    "device_availability",
    "alerts",
)
SHARES = frozenset(CHARTED) - {"satisfaction_mean", "alerts"}
# The quality targets, drawn as a dashed line: 97.5% answered within a minute
# (dispatch/domain/kpis.py) and every flagged elder visited each month.
TARGETS: Mapping[str, float] = {"answered_within_60s": 0.975, "visit_coverage": 1.0}

LINE = "#1f5fa8"
TARGET = "#b3261e"
# matplotlib keeps global state while it draws; one chart at a time.
_drawing = threading.Lock()


def _value(figure: Mapping[str, Any], key: str) -> float:
    value = figure.get(key)
    if value is None:
        return math.nan  # nothing to count that month: a gap, not a zero
    return float(value) * (100 if key in SHARES else 1)


def trend_svg(trend: Sequence[Mapping[str, Any]], key: str) -> str:
    """One KPI over the trend's months as a small SVG line chart (text kept as text,
    so the page's and the PDF's fonts draw it)."""
    months = [str(m["month"]) for m in trend]
    values = [_value(m, key) for m in trend]
    with _drawing, matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9}):
        fig = Figure(figsize=(4.0, 1.8))
        ax = fig.add_subplot()
        xs = list(range(len(months)))
        ax.plot(xs, values, color=LINE, linewidth=2, marker="o", markersize=4)
        if key in TARGETS:
            ax.axhline(TARGETS[key] * 100, color=TARGET, linewidth=1, linestyle="--")
        last = values[-1] if values else math.nan
        if not math.isnan(last):
            label = f"{last:.1f}%" if key in SHARES else f"{last:g}"
            ax.annotate(label, (xs[-1], last), textcoords="offset points", xytext=(0, 6),
                        ha="center", color=LINE, fontweight="bold")  # fmt: skip
        ax.set_xticks(xs, [m[2:] for m in months])  # "26-06": six months fit a phone
        ax.set_xlim(-0.4, len(months) - 0.6)
        if key in SHARES:
            ax.set_ylim(0, 110)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
            ax.set_yticks([0, 50, 100])
        elif key == "satisfaction_mean":
            ax.set_ylim(1, 5.5)
            ax.set_yticks([1, 3, 5])
        else:
            top = max((v for v in values if not math.isnan(v)), default=0.0)
            ax.set_ylim(0, max(1.0, top * 1.25))
            ax.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        out = io.StringIO()
        fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    return out.getvalue()
