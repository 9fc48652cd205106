"""Operators' work over a month (pure): how many alerts each acknowledged, how fast
(raised → acknowledged) and how long until the alert was closed (acknowledged →
resolved or cancelled); over the month, or shift by shift."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, tzinfo

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


@dataclass(frozen=True, slots=True)
class ShiftWork:
    """The call centre's work in one shift: each operator's, and all of it together
    (``total``, its operator is "")."""

    start: datetime  # local, the shift's first moment
    end: datetime
    operators: list[OperatorWork]
    total: OperatorWork


def shift_starts(starts: Iterable[str]) -> tuple[time, ...]:
    """The centre's shift start times ("08:00", ...) in order; ValueError if malformed,
    repeated or none."""
    try:
        parsed = sorted(time.fromisoformat(s) for s in starts)
    except (TypeError, ValueError):
        raise ValueError("shift starts are HH:MM times") from None
    if not parsed or len(set(parsed)) != len(parsed):
        raise ValueError("shift starts: at least one, none twice")
    return tuple(parsed)


def shift_of(moment: datetime, starts: tuple[time, ...]) -> tuple[datetime, datetime]:
    """The [start, end) of the shift ``moment`` (aware, in the centre's zone) falls in;
    before the day's first start it is the previous day's last shift."""
    day = moment.date()
    bounds = [
        datetime.combine(d, t, tzinfo=moment.tzinfo)
        for d in (day - timedelta(days=1), day, day + timedelta(days=1))
        for t in starts
    ]
    for start, end in itertools.pairwise(bounds):
        if start <= moment < end:
            return start, end
    raise AssertionError("a moment lies between yesterday's last start and tomorrow's")


def summarise_shifts(
    acks: Iterable[Acknowledgement], zone: tzinfo, starts: tuple[time, ...]
) -> list[ShiftWork]:
    """Per shift (by when the alert was acknowledged, in ``zone``), oldest first: each
    operator's work and the shift's in total."""
    by_shift: dict[tuple[datetime, datetime], list[Acknowledgement]] = {}
    for ack in acks:
        by_shift.setdefault(shift_of(ack.acknowledged_at.astimezone(zone), starts), []).append(ack)
    out = []
    for (start, end), mine in sorted(by_shift.items()):
        (total,) = summarise(replace(a, operator="") for a in mine)
        out.append(ShiftWork(start=start, end=end, operators=summarise(mine), total=total))
    return out
