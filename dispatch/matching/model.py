"""What the matcher reads and what it answers: frozen, validated values.

A snapshot (waiting alerts and the caregivers near them, at one moment) goes in;
one decision per alert comes out. The objective's knobs are a ``MatchPolicy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple
from uuid import UUID

from dispatch.domain.model import AlertType, GeoPoint, Severity, Shift, TransportMode

UNASSIGNED_COST_S = 10_000_000  # far above any real arrival time
OPTIONS_EXPLAINED = 5


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """The knobs of the objective, in seconds of arrival time they are worth."""

    lateness_penalty: int = 60  # one second late weighs like a minute of travel
    stale_after_s: float = 120.0  # a position older than this is uncertain...
    stale_penalty_s: float = 120.0  # ...and counts as this much extra travel
    load_penalty_s: float = 30.0  # per emergency the caregiver already served today
    familiar_bonus_s: float = 60.0  # the elder knows this caregiver
    divert_severities: frozenset[Severity] = frozenset({Severity.CRITICAL})
    divert_penalty_s: float = 300.0  # taking someone off a planned home visit
    offers_before_escalation: int = 3  # after this many unanswered offers, tell operators

    def __post_init__(self) -> None:
        if self.lateness_penalty < 1:
            raise ValueError("lateness_penalty must be at least 1")
        for name in ("stale_penalty_s", "load_penalty_s", "familiar_bonus_s", "divert_penalty_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


class Escalation(StrEnum):
    """Why operators must look at an alert (the reasons the board shows)."""

    NO_SKILL_ON_SHIFT = "no one with the skill on shift"
    TOO_FAR = "everyone too far"
    ALL_BUSY = "everyone busy"
    NO_ANSWER = "nobody answered"
    CANNOT_DISPATCH = "cannot be dispatched automatically"  # its data broke the round


@dataclass(frozen=True, slots=True)
class WaitingAlert:
    alert_id: UUID
    position: GeoPoint
    alert_type: AlertType
    raised_at: datetime
    excluded: frozenset[UUID] = frozenset()  # caregivers who declined or let it expire
    slots: int = 1  # caregivers still missing (two-person alerts may need 2)
    familiar: frozenset[UUID] = frozenset()  # caregivers who have helped this elder before
    # Caregivers found near this alert (a GEO search), nearest first; None: everyone
    # in the snapshot. A tuple: a surge round builds thousands, hashing none.
    nearby: tuple[UUID, ...] | None = None

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError("a waiting alert needs at least one caregiver")

    @property
    def deadline(self) -> datetime:
        return self.raised_at + timedelta(seconds=self.alert_type.arrival_deadline_s)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A caregiver near the alerts, as seen at the snapshot's moment."""

    caregiver_id: UUID
    position: GeoPoint
    skills: frozenset[str]
    shift: Shift
    mode: TransportMode
    position_age_s: float = 0.0
    busy: bool = False  # already on an emergency: never offered another
    on_visit: bool = False  # on a planned home visit: diverted only by policy
    orders_today: int = 0


@dataclass(frozen=True, slots=True)
class MatchSnapshot:
    """Everything the matcher needs, frozen at one moment (``now`` is city-local)."""

    now: datetime
    alerts: tuple[WaitingAlert, ...]
    caregivers: tuple[Candidate, ...]

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("snapshot time must be timezone-aware")
        if len({a.alert_id for a in self.alerts}) != len(self.alerts):
            raise ValueError("an alert appears twice in the snapshot")
        if len({c.caregiver_id for c in self.caregivers}) != len(self.caregivers):
            raise ValueError("a caregiver appears twice in the snapshot")


class Option(NamedTuple):
    """One caregiver an alert may get, with what it costs.

    A named tuple rather than a frozen dataclass: a surge round builds a
    thousand of them, and a frozen dataclass sets each field through
    ``object.__setattr__`` (about 5x the time of a tuple).
    """

    caregiver_id: UUID
    eta_s: float
    late_s: float
    cost_s: float  # what the objective charges, before the severity weight
    notes: tuple[str, ...] = ()
    distance_m: float = 0.0  # straight line from the caregiver to the elder

    def explain(self) -> str:
        late = f", {self.late_s:.0f} s late" if self.late_s else ""
        notes = f" ({'; '.join(self.notes)})" if self.notes else ""
        return f"arrives in {self.eta_s:.0f} s{late}{notes}"


class Decision(NamedTuple):
    """The matcher's answer for one alert, with what it weighed.

    ``chosen`` holds up to ``slots`` options; offer each. If ``escalation`` is set,
    tell the operators why (the alert may still have been given its best late
    option). (A named tuple, as ``Option`` is: one per alert of a surge round.)
    """

    alert_id: UUID
    chosen: tuple[Option, ...]
    considered: tuple[Option, ...] = ()
    reason: str = ""
    escalation: Escalation | None = None
