"""Today's figures the care bureau is judged on (pure: rows in, numbers out)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

# The call centre's target: 97.5% of alerts answered within a minute.
ANSWER_TARGET_S = 60.0


@dataclass(frozen=True, slots=True)
class AlertTimes:
    """When an alert was raised, answered and reached, for the KPI arithmetic."""

    alert_id: UUID
    raised_at: datetime
    deadline_at: datetime
    answered_at: datetime | None  # see counts_as_answer
    arrived_at: datetime | None  # first caregiver on scene
    closure_code: str | None = None  # why it was closed; None while open


@dataclass(frozen=True, slots=True)
class Kpis:
    open_alerts: int
    answer_p50_s: float | None
    answer_p975_s: float | None
    answered_within_target: float | None  # share of answered alerts answered within a minute
    reached_within_deadline: float | None  # share of alerts whose deadline has come
    caregivers_available: int
    devices_offline: int
    # Closed alerts by closure code (false alarms, tests, real emergencies...).
    closed_by_code: dict[str, int] = field(default_factory=dict)


def counts_as_answer(*, action: str | None, entity: str, to_state: str, device_talks: bool) -> bool:
    """Whether an audit step answers its alert, for the time-to-answer KPIs.

    An alert from a device that talks is answered when a voice call with it
    connected (someone spoke to the elder); any other alert when an operator
    acknowledged it or a caregiver accepted it.
    """
    if action == "call_answered":
        return True
    if device_talks:
        return False
    return action == "acknowledged" or (entity == "order" and to_state == "accepted")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (0 < q ≤ 1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def compute(
    times: Iterable[AlertTimes],
    *,
    now: datetime,
    open_alerts: int,
    caregivers_available: int,
    devices_offline: int,
) -> Kpis:
    times = list(times)
    answers = [(t.answered_at - t.raised_at).total_seconds() for t in times if t.answered_at]
    # An alert counts once its deadline has passed or someone arrived, whichever first.
    judged = [t for t in times if t.arrived_at is not None or t.deadline_at <= now]
    on_time = [t for t in judged if t.arrived_at is not None and t.arrived_at <= t.deadline_at]
    return Kpis(
        open_alerts=open_alerts,
        answer_p50_s=statistics.median(answers) if answers else None,
        answer_p975_s=percentile(answers, 0.975),
        answered_within_target=(
            sum(a <= ANSWER_TARGET_S for a in answers) / len(answers) if answers else None
        ),
        reached_within_deadline=len(on_time) / len(judged) if judged else None,
        caregivers_available=caregivers_available,
        devices_offline=devices_offline,
        closed_by_code=dict(Counter(t.closure_code for t in times if t.closure_code)),
    )
