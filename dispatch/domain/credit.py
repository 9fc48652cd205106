"""Credit scores (信用评价) for caregivers and providers, from a month's facts (pure).

Each score is a weighted mean of rates CareBell records (offers taken, arrival by
the deadline, visits started at the address, visits not missed, follow-up
satisfaction), scaled to 0-100, and explains itself: for every part the facts,
the rate, the weight and the points it contributed. Weights and thresholds come
from config/credit.yaml. A part with no facts in the month is left out and the
others share its weight; too few facts in all give no score (None), never a low one.

What a score does: a good one earns a bounded bonus in the matcher's and the
planner's objectives (``bonus_s``); a low one flags a provider's statement for
review and holds a caregiver back from automatic dispatch until a supervisor
clears it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The parts, in the order a score explains them.
PARTS = ("offers_taken", "on_time", "at_address", "visits_kept", "satisfaction")


@dataclass(frozen=True, slots=True)
class CreditFacts:
    """What one caregiver (or a provider's caregivers together) did in a month."""

    offers_accepted: int = 0
    offers_declined: int = 0
    offers_expired: int = 0
    arrived_on_time: int = 0  # orders on scene by the alert's deadline
    arrived_late: int = 0
    visits_started_at_address: int = 0  # within the menu's start_radius_m
    visits_started_away: int = 0
    visits_done: int = 0
    visits_missed: int = 0
    ratings: tuple[int, ...] = ()  # follow-up satisfaction, 1-5
    complaints: int = 0  # recorded complaints (none are recorded yet)

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, int) and value < 0:
                raise ValueError(f"{name} must not be negative")
        if any(not 1 <= r <= 5 for r in self.ratings):
            raise ValueError("ratings are 1-5")

    def __add__(self, other: CreditFacts) -> CreditFacts:
        return CreditFacts(
            *(getattr(self, name) + getattr(other, name) for name in self.__dataclass_fields__)
        )

    def fraction(self, part: str) -> tuple[float, int, int] | None:
        """(rate 0-1, the good facts, all facts) of a part; None without facts."""
        good, total = {
            "offers_taken": (
                self.offers_accepted,
                self.offers_accepted + self.offers_declined + self.offers_expired,
            ),
            "on_time": (self.arrived_on_time, self.arrived_on_time + self.arrived_late),
            "at_address": (
                self.visits_started_at_address,
                self.visits_started_at_address + self.visits_started_away,
            ),
            "visits_kept": (self.visits_done, self.visits_done + self.visits_missed),
            "satisfaction": (sum(r - 1 for r in self.ratings), 4 * len(self.ratings)),
        }[part]
        if not total:
            return None
        count = len(self.ratings) if part == "satisfaction" else total
        return good / total, good, count


@dataclass(frozen=True, slots=True)
class CreditPolicy:
    """config/credit.yaml: the parts' weights and what a score leads to."""

    weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "offers_taken": 2.0,
            "on_time": 3.0,
            "at_address": 2.0,
            "visits_kept": 2.0,
            "satisfaction": 1.0,
        }
    )
    complaint_points: float = 5.0  # taken off the score per recorded complaint
    min_facts: int = 5  # fewer facts in the month: no score
    good_from: float = 90.0  # at or above: a bonus in dispatch and planning
    low_below: float = 60.0  # below: review (provider) or hold (caregiver)
    bonus_max_s: float = 60.0  # the bonus at a score of 100, in seconds of travel

    def __post_init__(self) -> None:
        if set(self.weights) != set(PARTS):
            raise ValueError(f"weights must name exactly {', '.join(PARTS)}")
        if any(w < 0 for w in self.weights.values()) or not sum(self.weights.values()):
            raise ValueError("weights must not be negative, nor all zero")
        if not 0 <= self.low_below <= self.good_from <= 100:
            raise ValueError("thresholds must satisfy 0 <= low_below <= good_from <= 100")
        if not 0 <= self.bonus_max_s <= 120:
            # Above two minutes a bonus would start to trade real arrival time.
            raise ValueError("bonus_max_s must be within 0-120 s")
        if self.complaint_points < 0 or self.min_facts < 0:
            raise ValueError("complaint_points and min_facts must not be negative")


@dataclass(frozen=True, slots=True)
class Contribution:
    part: str
    good: int
    facts: int
    rate: float
    weight: float
    points: float  # what this part adds to the score


@dataclass(frozen=True, slots=True)
class CreditScore:
    score: float | None  # 0-100; None: too few facts this month
    standing: str  # good | fair | low | unscored
    bonus_s: float  # seconds of travel the objectives forgive
    parts: tuple[Contribution, ...]
    complaints: int
    facts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "standing": self.standing,
            "bonus_s": self.bonus_s,
            "facts": self.facts,
            "complaints": self.complaints,
            "parts": [
                {
                    "part": c.part,
                    "good": c.good,
                    "facts": c.facts,
                    "rate": round(c.rate, 4),
                    "weight": c.weight,
                    "points": round(c.points, 2),
                }
                for c in self.parts
            ],
        }


def score(facts: CreditFacts, policy: CreditPolicy) -> CreditScore:
    """The month's score of ``facts``, with each part's contribution."""
    present = [(p, f) for p in PARTS if (f := facts.fraction(p)) is not None]
    counted = sum(f[2] for _, f in present) + facts.complaints
    weight_sum = sum(policy.weights[p] for p, _ in present)
    if counted < policy.min_facts or not weight_sum:
        return CreditScore(None, "unscored", 0.0, (), facts.complaints, counted)
    weights = policy.weights
    parts = tuple(
        Contribution(p, good, n, rate, weights[p], 100 * rate * weights[p] / weight_sum)
        for p, (rate, good, n) in present
    )
    value = sum(c.points for c in parts) - policy.complaint_points * facts.complaints
    value = round(max(0.0, min(100.0, value)), 1)
    if value >= policy.good_from:
        standing = "good"
    elif value < policy.low_below:
        standing = "low"
    else:
        standing = "fair"
    return CreditScore(value, standing, bonus_s(value, policy), parts, facts.complaints, counted)


def bonus_s(value: float | None, policy: CreditPolicy) -> float:
    """The objectives' bonus for a score: 0 below ``good_from``, rising linearly to
    ``bonus_max_s`` at 100. Bounded, so it only breaks near-ties: the matcher
    gives it only to arrivals by the deadline, and lateness costs 60 s a second."""
    if value is None or value < policy.good_from:
        return 0.0
    span = 100.0 - policy.good_from
    share = 1.0 if span == 0 else (value - policy.good_from) / span
    return round(policy.bonus_max_s * share, 1)


def pooled(facts: Iterable[CreditFacts]) -> CreditFacts:
    """A provider's facts: its caregivers' together."""
    total = CreditFacts()
    for f in facts:
        total = total + f
    return total


def parse_policy(raw: Mapping[str, Any]) -> CreditPolicy:
    """config/credit.yaml's mapping as a policy; ValueError names what is wrong."""
    try:
        thresholds = raw.get("thresholds", {})
        return CreditPolicy(
            weights={str(k): float(v) for k, v in raw["weights"].items()},
            complaint_points=float(raw.get("complaint_points", 5.0)),
            min_facts=int(raw.get("min_facts", 5)),
            good_from=float(thresholds.get("good_from", 90.0)),
            low_below=float(thresholds.get("low_below", 60.0)),
            bonus_max_s=float(raw.get("bonus_max_s", 60.0)),
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"credit policy: {e!r}") from e
