"""What the matcher reads and what it answers: frozen, validated values.

A snapshot (waiting alerts and the caregivers near them, at one moment) goes in;
one decision per alert comes out. The objective's knobs are a ``MatchPolicy``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from operator import attrgetter, itemgetter
from typing import NamedTuple, overload
from uuid import UUID

import numpy as np
import numpy.typing as npt

from dispatch.domain.model import AlertType, GeoPoint, Severity, Shift, TransportMode

UNASSIGNED_COST_S = 10_000_000  # far above any real arrival time
OPTIONS_EXPLAINED = 5
# A credit bonus only breaks near-ties: it never buys more than two minutes of travel.
MAX_CREDIT_BONUS_S = 120.0


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
    # Seconds the objective forgives for a good credit score (config/credit.yaml),
    # given only where the caregiver arrives by the deadline.
    credit_bonus_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.credit_bonus_s <= MAX_CREDIT_BONUS_S:
            raise ValueError(f"credit_bonus_s must be within 0-{MAX_CREDIT_BONUS_S:.0f} s")


Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class CaregiverTable(Sequence[Candidate]):
    """Caregivers as columns: what a ``Candidate`` holds, one entry per caregiver.

    A surge round reads hundreds of caregivers from Redis; making a ``Candidate``
    (and a ``GeoPoint``, a ``UUID``) for each cost more than the exact solve. A
    server keeps its fleet as one table and takes the rows a search found
    (``take``); ids, skill sets, shifts and modes are shared objects, referenced,
    never copied. Read as a sequence it gives ``Candidate`` values, made on demand.
    """

    ids: tuple[UUID, ...]
    lat: Floats
    lon: Floats
    skills: tuple[frozenset[str], ...]
    shift: tuple[Shift, ...]
    mode: tuple[TransportMode, ...]
    position_age_s: Floats
    busy: Flags
    on_visit: Flags
    orders_today: Ints
    credit_bonus_s: Floats | None = None  # None: nobody has a credit bonus

    def __post_init__(self) -> None:
        n = len(self.ids)
        if any(len(column) != n for column in self._columns()):
            raise ValueError("every column of a caregiver table needs one entry per caregiver")

    @classmethod
    def of(cls, caregivers: Sequence[Candidate]) -> CaregiverTable:
        if isinstance(caregivers, CaregiverTable):
            return caregivers
        where = np.array(
            [(c.position.lat, c.position.lon, c.position_age_s) for c in caregivers],
            dtype=np.float64,
        ).reshape(-1, 3)
        counts = np.array(
            [(c.busy, c.on_visit, c.orders_today) for c in caregivers], dtype=np.int64
        ).reshape(-1, 3)
        return cls(
            tuple(c.caregiver_id for c in caregivers),
            where[:, 0].copy(),
            where[:, 1].copy(),
            tuple(c.skills for c in caregivers),
            tuple(c.shift for c in caregivers),
            tuple(c.mode for c in caregivers),
            where[:, 2].copy(),
            counts[:, 0] != 0,
            counts[:, 1] != 0,
            counts[:, 2].copy(),
            bonus if (bonus := np.array([c.credit_bonus_s for c in caregivers])).any() else None,
        )

    def take(
        self,
        rows: Ints,
        lat: Floats | None = None,
        lon: Floats | None = None,
        position_age_s: Floats | None = None,
    ) -> CaregiverTable:
        """Rows ``rows`` of this table, in that order, with new positions if given."""
        pick = _picker(rows.tolist())
        return CaregiverTable(
            pick(self.ids),
            self.lat[rows] if lat is None else lat,
            self.lon[rows] if lon is None else lon,
            pick(self.skills),
            pick(self.shift),
            pick(self.mode),
            self.position_age_s[rows] if position_age_s is None else position_age_s,
            self.busy[rows],
            self.on_visit[rows],
            self.orders_today[rows],
            None if self.credit_bonus_s is None else self.credit_bonus_s[rows],
        )

    def _columns(self) -> tuple[Sized, ...]:
        return (
            self.lat, self.lon, self.skills, self.shift, self.mode,
            self.position_age_s, self.busy, self.on_visit, self.orders_today,
            *(() if self.credit_bonus_s is None else (self.credit_bonus_s,)),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, j: int) -> Candidate: ...
    @overload
    def __getitem__(self, j: slice) -> tuple[Candidate, ...]: ...
    def __getitem__(self, j: int | slice) -> Candidate | tuple[Candidate, ...]:
        if isinstance(j, slice):
            return tuple(self[k] for k in range(len(self))[j])
        return Candidate(
            self.ids[j],
            GeoPoint(float(self.lat[j]), float(self.lon[j])),
            self.skills[j],
            self.shift[j],
            self.mode[j],
            float(self.position_age_s[j]),
            bool(self.busy[j]),
            bool(self.on_visit[j]),
            int(self.orders_today[j]),
            0.0 if self.credit_bonus_s is None else float(self.credit_bonus_s[j]),
        )

    def __iter__(self) -> Iterator[Candidate]:
        return (self[j] for j in range(len(self)))


_NUMBER = attrgetter("int")


def _picker(rows: list[int]) -> itemgetter[tuple[object, ...]]:
    """``itemgetter`` that always answers a tuple (it answers one item bare)."""
    return itemgetter(*rows) if len(rows) > 1 else _Few(rows)  # type: ignore[return-value]


class _Few:
    def __init__(self, rows: list[int]) -> None:
        self._rows = rows

    def __call__(self, values: Sequence[object]) -> tuple[object, ...]:
        return tuple(values[j] for j in self._rows)


@dataclass(frozen=True, slots=True, eq=False)
class Found:
    """Who a GEO search found near each alert, nearest first, as positions in the
    snapshot's caregivers: alert ``i``'s are ``caregiver[first[i]:first[i + 1]]``
    (-1: found, but not in the snapshot). Replaces each alert's ``nearby``."""

    first: Ints
    caregiver: Ints

    def __post_init__(self) -> None:
        if len(self.first) < 1 or self.first[0] != 0 or self.first[-1] != len(self.caregiver):
            raise ValueError("found: first must run from 0 to the number of caregivers found")


@dataclass(frozen=True, slots=True)
class MatchSnapshot:
    """Everything the matcher needs, frozen at one moment (``now`` is city-local).

    ``caregivers`` is a tuple of ``Candidate`` or a ``CaregiverTable`` (a server's
    fleet, as columns); ``found`` gives the alerts' GEO search results as
    positions in it, in place of each alert's ``nearby``.
    """

    now: datetime
    alerts: tuple[WaitingAlert, ...]
    caregivers: Sequence[Candidate]
    found: Found | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("snapshot time must be timezone-aware")
        if len({a.alert_id for a in self.alerts}) != len(self.alerts):
            raise ValueError("an alert appears twice in the snapshot")
        ids = (
            self.caregivers.ids
            if isinstance(self.caregivers, CaregiverTable)
            else [c.caregiver_id for c in self.caregivers]
        )
        if len(set(map(_NUMBER, ids))) != len(ids):  # (UUID's own hash is Python code)
            raise ValueError("a caregiver appears twice in the snapshot")
        if self.found is not None:
            if len(self.found.first) != len(self.alerts) + 1:
                raise ValueError("found: one entry per alert")
            if len(self.found.caregiver) and int(self.found.caregiver.max()) >= len(ids):
                raise ValueError("found: a caregiver beyond the snapshot's")


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
