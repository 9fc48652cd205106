"""When a service request's visits fall: once, or on given weekdays (pure)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, time, timedelta


@dataclass(frozen=True, slots=True)
class Recurrence:
    """``weekdays`` empty: one visit on ``first_day``; else every such ISO weekday
    (1 = Monday) from ``first_day`` to ``last_day`` (open-ended when None)."""

    first_day: date
    window_start: time  # local time
    window_end: time
    weekdays: frozenset[int] = frozenset()
    last_day: date | None = None

    def __post_init__(self) -> None:
        if self.window_end <= self.window_start:
            raise ValueError("the visit window ends before it starts")
        if not self.weekdays <= set(range(1, 8)):
            raise ValueError("weekdays are 1 (Monday) to 7 (Sunday)")
        if self.last_day is not None and self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")

    def occurs_on(self, day: date) -> bool:
        if day < self.first_day or (self.last_day is not None and day > self.last_day):
            return False
        if not self.weekdays:
            return day == self.first_day
        return day.isoweekday() in self.weekdays

    def days(self, start: date, end: date) -> Iterator[date]:
        """The days in [start, end] with a visit."""
        day = max(start, self.first_day)
        while day <= end:
            if self.occurs_on(day):
                yield day
            day += timedelta(days=1)
