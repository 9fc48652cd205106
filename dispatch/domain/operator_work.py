"""Operators' work over a month (pure): how many alerts each acknowledged, how fast
(raised → acknowledged) and how long until the alert was closed (acknowledged →
resolved or cancelled)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from dispatch.domain.kpis import percentile


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    operator: str
    raised_at: datetime
    acknowledged_at: datetime
    closed_at: datetime | None  # None while the alert is open


@dataclass(frozen=True, slots=True)
class OperatorWork:
    operator: str
    acknowledged: int
    answer_median_s: float | None
    answer_p90_s: float | None
    closed: int  # of those acknowledged, closed by now
    ack_to_close_median_s: float | None


def summarise(acks: Iterable[Acknowledgement]) -> list[OperatorWork]:
    """One line per operator, by name."""
    by_operator: dict[str, list[Acknowledgement]] = {}
    for ack in acks:
        by_operator.setdefault(ack.operator, []).append(ack)
    out = []
    for operator in sorted(by_operator):
        mine = by_operator[operator]
        # A clock step can put an acknowledgement a moment before the raise: count it as 0.
        answers = [max(0.0, (a.acknowledged_at - a.raised_at).total_seconds()) for a in mine]
        to_close = [
            max(0.0, (a.closed_at - a.acknowledged_at).total_seconds())
            for a in mine
            if a.closed_at is not None
        ]
        out.append(
            OperatorWork(
                operator=operator,
                acknowledged=len(mine),
                answer_median_s=statistics.median(answers) if answers else None,
                answer_p90_s=percentile(answers, 0.9),
                closed=len(to_close),
                ack_to_close_median_s=statistics.median(to_close) if to_close else None,
            )
        )
    return out


def month_bounds(month: str) -> tuple[int, int]:
    """(year, month) of "YYYY-MM"; ValueError otherwise."""
    try:
        year_s, month_s = month.split("-")
        if len(year_s) != 4 or len(month_s) != 2:
            raise ValueError
        year, number = int(year_s), int(month_s)
    except ValueError:
        raise ValueError(f"month is YYYY-MM, not {month!r}") from None
    if not 1 <= number <= 12 or year < 2000:
        raise ValueError(f"month is YYYY-MM, not {month!r}")
    return year, number
