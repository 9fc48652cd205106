"""The monthly report's KPIs (pure): from one month's facts about alerts, visits and
follow-up calls, the shares the care bureau judges the service by."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatch.domain.kpis import ANSWER_TARGET_S, counts_as_answer

# Closure codes that mean nobody needed help: the device or the elder raised it by
# mistake (config/alert_types.yaml; a test call is not an alarm and is left out).
FALSE_ALARM_CODES = frozenset({"false_alarm", "accidental_press", "device_fault"})
NOT_AN_ALARM_CODES = frozenset({"test"})


@dataclass(frozen=True, slots=True)
class AlertFact:
    raised_at: datetime
    answered_at: datetime | None  # the first step that counts_as_answer (domain/kpis.py)
    closure_code: str | None
    caregiver_sent: bool  # an order was taken on it
    reached_by_deadline: bool  # an order went on scene by the deadline


@dataclass(frozen=True, slots=True)
class AnswerStep:
    """One audit step of an alert, as the board's KPIs judge an answer."""

    at: datetime
    action: str | None
    entity: str
    to_state: str


def first_answer(steps: Iterable[AnswerStep], *, device_talks: bool) -> datetime | None:
    """When the alert was answered: the board's rule (``counts_as_answer``), not a copy."""
    answers = [
        s.at
        for s in steps
        if counts_as_answer(
            action=s.action, entity=s.entity, to_state=s.to_state, device_talks=device_talks
        )
    ]
    return min(answers, default=None)


@dataclass(frozen=True, slots=True)
class Outage:
    """A device offline: from its "device offline" alert to its closing (None: still)."""

    start: datetime
    end: datetime | None


def availability(
    devices: int, outages: Iterable[Outage], start: datetime, end: datetime
) -> float | None:
    """The share of device-time online in [start, end): 1 minus the outages' time
    inside it over ``devices`` times its length; None with no device or no time.
    ``end`` is the month's end, or now for the month under way."""
    length = (end - start).total_seconds()
    if devices <= 0 or length <= 0:
        return None
    down = 0.0
    for o in outages:
        lo, hi = max(o.start, start), min(o.end or end, end)
        down += max(0.0, (hi - lo).total_seconds())
    return round(max(0.0, 1 - down / (devices * length)), 4)


@dataclass(frozen=True, slots=True)
class MonthFacts:
    month: str  # YYYY-MM
    alerts: tuple[AlertFact, ...]
    ratings: tuple[int, ...]  # follow-up satisfaction, 1-5, of the month's visits
    visit_elders: int  # elders due a visit every month (living alone, hardship)
    visit_elders_visited: int
    device_availability: float | None = None  # see availability()
    # The share of elders some caregiver reaches within 15 minutes (domain/service_circle.py),
    # as staffed now: only for the report's month, None in the trend.
    within_15_min: float | None = None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def kpis(facts: MonthFacts) -> dict[str, Any]:
    """The month's KPIs; a share is None when there was nothing to count."""
    alerts = [a for a in facts.alerts if a.closure_code not in NOT_AN_ALARM_CODES]
    answered = sum(
        1
        for a in alerts
        if a.answered_at is not None
        and (a.answered_at - a.raised_at).total_seconds() <= ANSWER_TARGET_S
    )
    sent = [a for a in alerts if a.caregiver_sent]
    codes = Counter(a.closure_code for a in alerts if a.closure_code)
    closed = sum(codes.values())
    false_alarms = sum(n for code, n in codes.items() if code in FALSE_ALARM_CODES)
    return {
        "month": facts.month,
        "alerts": len(alerts),
        "answered_within_60s": _share(answered, len(alerts)),
        "caregiver_sent": len(sent),
        "reached_by_deadline": _share(sum(a.reached_by_deadline for a in sent), len(sent)),
        "closed": closed,
        "closed_by_code": dict(sorted(codes.items())),
        "false_alarm_rate": _share(false_alarms, closed),
        "visit_elders": facts.visit_elders,
        "visit_coverage": _share(facts.visit_elders_visited, facts.visit_elders),
        "follow_ups_rated": len(facts.ratings),
        "satisfaction_mean": round(sum(facts.ratings) / len(facts.ratings), 2)
        if facts.ratings
        else None,
        "device_availability": facts.device_availability,
        "within_15_min": facts.within_15_min,
    }


def previous_months(month: str, count: int) -> list[str]:
    """``count`` months ending with ``month`` (YYYY-MM), oldest first."""
    year, number = (int(p) for p in month.split("-"))
    out = []
    for back in range(count - 1, -1, -1):
        index = year * 12 + number - 1 - back
        out.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
    return out
