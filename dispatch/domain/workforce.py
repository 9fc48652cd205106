"""Caregivers' working days and qualifications (pure): which skills count today,
and which shift, if any, they work on a given day."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time


@dataclass(frozen=True, slots=True)
class Certificate:
    """A qualification for a skill (e.g. first aid), valid until ``expires_on`` inclusive."""

    skill: str
    name: str
    expires_on: date | None = None  # None: does not expire

    def valid_on(self, day: date) -> bool:
        return self.expires_on is None or day <= self.expires_on


def effective_skills(
    skills: Iterable[str], certificates: Iterable[Certificate], day: date
) -> frozenset[str]:
    """The skills a caregiver may be matched on ``day``.

    A skill with certificates on record counts only while one of them is valid:
    when the last one expires, the skill drops out of matching. A skill with no
    certificate on record (basic care) counts as it is.
    """
    held = list(certificates)
    certified = {c.skill for c in held}
    valid = {c.skill for c in held if c.valid_on(day)}
    return frozenset(s for s in skills if s not in certified or s in valid)


def shift_on(
    default: tuple[time, time],
    weekly: Mapping[int, tuple[time, time]],
    leave: Sequence[date],
    day: date,
) -> tuple[time, time] | None:
    """The shift worked on ``day``: None on leave or on a day the weekly pattern
    leaves free; the pattern's hours when it has any; else the daily default.

    ``weekly`` maps ISO weekdays (1 = Monday … 7 = Sunday) to (start, end).
    """
    if day in leave:
        return None
    if weekly:
        return weekly.get(day.isoweekday())
    return default


def certificates_of(raw: Iterable[Mapping[str, object]]) -> list[Certificate]:
    """Certificates as the caregiver's record keeps them (JSON)."""
    return [
        Certificate(
            str(c["skill"]),
            str(c.get("name", "")),
            date.fromisoformat(str(c["expires_on"])) if c.get("expires_on") else None,
        )
        for c in raw
    ]


def weekly_of(raw: Mapping[str, Sequence[str]]) -> dict[int, tuple[time, time]]:
    """A weekly pattern as the record keeps it ({"1": ["08:00", "16:00"]})."""
    pattern: dict[int, tuple[time, time]] = {}
    for weekday, (start, end) in raw.items():
        day = int(weekday)
        if not 1 <= day <= 7:
            raise ValueError(f"weekday {weekday!r} is not 1 (Monday) to 7 (Sunday)")
        begin, finish = time.fromisoformat(start), time.fromisoformat(end)
        if begin == finish:
            raise ValueError(f"weekday {weekday}: a shift must not start and end at the same time")
        pattern[day] = (begin, finish)
    return pattern


@dataclass(frozen=True, slots=True)
class WorkingDay:
    skills: frozenset[str]
    shift: tuple[time, time] | None  # None: not working that day


def working_day(
    skills: Iterable[str],
    certificates: Iterable[Mapping[str, object]],
    default_shift: tuple[time, time],
    weekly: Mapping[str, Sequence[str]],
    leave: Iterable[str],
    day: date,
) -> WorkingDay:
    """What a caregiver's record means for ``day``: the skills that count, the shift."""
    days_off = [date.fromisoformat(d) for d in leave]
    return WorkingDay(
        effective_skills(skills, certificates_of(certificates), day),
        shift_on(default_shift, weekly_of(weekly), days_off, day),
    )
