"""The monthly report's KPIs (pure): from one month's facts about alerts, visits and
follow-up calls, the shares the care bureau judges the service by."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# An alert is answered when an operator acknowledges it; the quality target is 60 s.
ANSWER_TARGET_S = 60.0
# Closure codes that mean nobody needed help: the device or the elder raised it by
# mistake (config/alert_types.yaml; a test call is not an alarm and is left out).
FALSE_ALARM_CODES = frozenset({"false_alarm", "accidental_press", "device_fault"})
NOT_AN_ALARM_CODES = frozenset({"test"})


@dataclass(frozen=True, slots=True)
class AlertFact:
    raised_at: datetime
    acknowledged_at: datetime | None
    closure_code: str | None
    caregiver_sent: bool  # an order was taken on it
    reached_by_deadline: bool  # an order went on scene by the deadline


@dataclass(frozen=True, slots=True)
class MonthFacts:
    month: str  # YYYY-MM
    alerts: tuple[AlertFact, ...]
    ratings: tuple[int, ...]  # follow-up satisfaction, 1-5, of the month's visits
    visit_elders: int  # elders due a visit every month (living alone, hardship)
    visit_elders_visited: int


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def kpis(facts: MonthFacts) -> dict[str, Any]:
    """The month's KPIs; a share is None when there was nothing to count."""
    alerts = [a for a in facts.alerts if a.closure_code not in NOT_AN_ALARM_CODES]
    answered = sum(
        1
        for a in alerts
        if a.acknowledged_at is not None
        and (a.acknowledged_at - a.raised_at).total_seconds() <= ANSWER_TARGET_S
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
    }


def previous_months(month: str, count: int) -> list[str]:
    """``count`` months ending with ``month`` (YYYY-MM), oldest first."""
    year, number = (int(p) for p in month.split("-"))
    out = []
    for back in range(count - 1, -1, -1):
        index = year * 12 + number - 1 - back
        out.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
    return out
