"""What a load run measured, and whether it kept its promises (pure)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

STAGES = ("stored", "pushed", "accepted", "arrived")


@dataclass
class Journey:
    """One help call from the press on, in seconds of the run's clock."""

    device_id: str
    pressed_at: float
    alert_id: str | None = None
    stored_at: float | None = None  # the alert reached the board: committed and published
    pushed_at: float | None = None  # the first offer reached a caregiver's phone
    accepted_at: float | None = None
    arrived_at: float | None = None
    deadline_s: float | None = None  # the alert type's arrival deadline

    def latency(self, stage: str) -> float | None:
        at: float | None = getattr(self, f"{stage}_at")
        return None if at is None else at - self.pressed_at


@dataclass
class RunMetrics:
    journeys: dict[str, Journey] = field(default_factory=dict)  # by device id
    events_sent: int = 0
    sent_by_type: Counter[str] = field(default_factory=Counter)  # heartbeat, press, position...
    silenced: int = 0  # devices that stopped checking in on purpose
    offers_expired: int = 0
    escalations: int = 0
    samples: list[tuple[float, str, float]] = field(default_factory=list)  # (t, stage, s)
    open_calls: list[tuple[float, int]] = field(default_factory=list)  # (t, calls not arrived)

    def latencies(self, stage: str) -> list[float]:
        return [v for j in self.journeys.values() if (v := j.latency(stage)) is not None]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile, 0 < q ≤ 1; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@dataclass(frozen=True)
class Check:
    name: str
    target: float
    actual: float | None

    @property
    def ok(self) -> bool:
        return self.actual is not None and self.actual <= self.target


def check_slos(
    metrics: RunMetrics,
    *,
    press_to_push_p99_s: float,
    lost: int,
    duplicated: int,
    found_lost: int,
    found_duplicated: int,
) -> list[Check]:
    return [
        Check(
            "press to push p99 (s)",
            press_to_push_p99_s,
            percentile(metrics.latencies("pushed"), 0.99),
        ),
        Check("alerts lost", lost, found_lost),
        Check("alerts duplicated", duplicated, found_duplicated),
    ]
