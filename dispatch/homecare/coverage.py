"""Monthly visit coverage for elders flagged for regular visits (pure).

Each such elder must be visited at least once each calendar month. The planner
adds welfare visits so that the ones still unvisited are spread over the days
left, the longest-unvisited first; the report names who is at risk.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID


def month_of(day: date) -> tuple[date, date]:
    """The first and last day of ``day``'s calendar month."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


@dataclass(frozen=True, slots=True)
class Coverage:
    month: str  # "2026-11"
    flagged: int
    visited: tuple[UUID, ...]
    scheduled: tuple[UUID, ...]  # not visited yet, a visit planned later this month
    at_risk: tuple[UUID, ...]  # neither, with few days left

    @property
    def percent(self) -> float:
        return 100.0 if not self.flagged else round(100 * len(self.visited) / self.flagged, 1)


def coverage(
    today: date,
    flagged: Sequence[UUID],
    visited: set[UUID],
    scheduled: set[UUID],
    *,
    at_risk_days: int,
) -> Coverage:
    """Where the month stands on ``today``."""
    _, last = month_of(today)
    days_left = (last - today).days + 1
    waiting = [e for e in flagged if e not in visited]
    planned = tuple(e for e in waiting if e in scheduled)
    unplanned = tuple(e for e in waiting if e not in scheduled)
    return Coverage(
        month=f"{today:%Y-%m}",
        flagged=len(flagged),
        visited=tuple(e for e in flagged if e in visited),
        scheduled=planned,
        at_risk=unplanned if days_left <= at_risk_days else (),
    )


def due_today(
    today: date,
    unvisited: Sequence[UUID],
    last_visit: Mapping[UUID, date],
) -> list[UUID]:
    """Which of the elders not yet visited (nor scheduled) this month get a visit today.

    An even share of the days left, the longest-unvisited first, so the month
    ends covered if planning runs every day.
    """
    if not unvisited:
        return []
    _, last = month_of(today)
    days_left = (last - today).days + 1
    count = math.ceil(len(unvisited) / days_left)
    oldest_first = sorted(unvisited, key=lambda e: (last_visit.get(e, date.min), str(e)))
    return oldest_first[:count]
