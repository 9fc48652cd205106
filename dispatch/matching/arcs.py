"""Who may go to which alert, and what it costs: every allowed pair at once.

The rules of docs/matching.md ("Who may go", "What best means") computed on
arrays. A surge round of 200 alerts with 30 candidates each weighs 6,000 pairs;
one by one in Python that alone took longer than the exact solve.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from functools import partial
from itertools import chain
from operator import attrgetter
from typing import Literal, TypeVar
from uuid import UUID

import numpy as np
import numpy.typing as npt

from dispatch.domain.model import TransportMode
from dispatch.matching.model import CaregiverTable, MatchPolicy, MatchSnapshot, Option
from dispatch.matching.travel import StraightLineTravel, TravelModel, great_circles_m

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]

US_PER_S = 1_000_000
DAY_US = 86_400 * US_PER_S
MODES = tuple(TransportMode)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, eq=False)
class Arcs:
    """The allowed (alert, caregiver) pairs, one entry per pair in every array.

    Sorted by alert, then cost, then arrival: alert ``i``'s options, best first,
    are the entries ``first[i]`` to ``first[i + 1]``.
    """

    alert: Ints  # index into snapshot.alerts
    caregiver: Ints  # index into snapshot.caregivers
    distance_m: Floats  # straight line, caregiver to elder
    eta_s: Floats
    late_s: Floats
    cost_s: Floats  # what the objective charges, before the severity weight
    weighted: Ints  # severity weight x whole seconds: what the solver minimises
    familiar: Flags
    first: Ints

    def __len__(self) -> int:
        return len(self.alert)

    def options(
        self, ks: Sequence[int], snapshot: MatchSnapshot, policy: MatchPolicy
    ) -> list[Option]:
        """Arcs ``ks`` as options that explain themselves."""
        at = np.asarray(ks, dtype=np.int64)
        table = CaregiverTable.of(snapshot.caregivers)
        who = self.caregiver[at].tolist()
        # A caregiver's notes are the same on every alert but for "known to the elder".
        seen = sorted(set(who))
        facts = zip(
            table.position_age_s[seen].tolist(),
            table.orders_today[seen].tolist(),
            table.on_visit[seen].tolist(),
            strict=True,
        )
        notes = {j: _notes(*fact, False, policy) for j, fact in zip(seen, facts, strict=True)}
        shown = list(map(notes.__getitem__, who))
        for k in np.flatnonzero(self.familiar[at]).tolist():
            j = who[k]
            shown[k] = _notes(
                float(table.position_age_s[j]),
                int(table.orders_today[j]),
                bool(table.on_visit[j]),
                True,
                policy,
            )
        if table.credit_bonus_s is not None:
            bonus = table.credit_bonus_s[who].tolist()
            for k in (k for k, b in enumerate(bonus) if b):
                shown[k] = (*shown[k], f"credit bonus {bonus[k]:.0f} s if on time")
        # (tuple.__new__ through map: a named tuple's own constructor is Python code.)
        return list(
            map(
                partial(tuple.__new__, Option),
                zip(
                    map(table.ids.__getitem__, who),
                    self.eta_s[at].tolist(),
                    self.late_s[at].tolist(),
                    self.cost_s[at].tolist(),
                    shown,
                    self.distance_m[at].tolist(),
                    strict=True,
                ),
            )
        )


def _notes(
    age_s: float, orders_today: int, on_visit: bool, familiar: bool, policy: MatchPolicy
) -> tuple[str, ...]:
    notes = []
    if age_s > policy.stale_after_s:
        notes.append(f"position {age_s:.0f} s old")
    if orders_today:
        notes.append(f"{orders_today} emergencies today")
    if familiar:
        notes.append("known to the elder")
    if on_visit:
        notes.append("diverted from a planned visit")
    return tuple(notes)


def allowed_arcs(snapshot: MatchSnapshot, travel: TravelModel, policy: MatchPolicy) -> Arcs:
    """Every pair the rules allow, with its cost; see :class:`Arcs` for the order."""
    alerts = snapshot.alerts
    table = CaregiverTable.of(snapshot.caregivers)
    skill_bit = {
        s: 1 << b for b, s in enumerate(sorted({s for a in alerts for s in a.alert_type.skills}))
    }
    ac = _AlertColumns.of(snapshot, policy, skill_bit)
    cc = _CaregiverColumns.of(table, snapshot.now, skill_bit)
    index = _Index(table)
    n = len(table)
    # Each pair as one number, alert x n + caregiver: sorted and unique in one go.
    if snapshot.found is not None:
        owner = np.repeat(np.arange(len(alerts), dtype=np.int64), np.diff(snapshot.found.first))
        found = snapshot.found.caregiver
        everyone: list[int] = []
    else:
        searched = [(i, a.nearby) for i, a in enumerate(alerts) if a.nearby is not None]
        found = np.fromiter(
            map(index.of, chain.from_iterable(ids for _, ids in searched)), dtype=np.int64
        )
        owner = np.repeat(
            np.array([i for i, _ in searched], dtype=np.int64), [len(ids) for _, ids in searched]
        )
        everyone = [i for i, a in enumerate(alerts) if a.nearby is None]
    pair = np.sort(
        np.concatenate([(owner * n + found)[found >= 0], *(i * n + np.arange(n) for i in everyone)])
    )
    pair = pair[np.concatenate((pair[:1] >= 0, pair[1:] != pair[:-1]))]  # unique, by sorting alone
    alert, cg = pair // max(n, 1), pair % max(n, 1)

    keep = (
        ~cc.busy[cg]
        & (cc.skills[cg] & ac.skills[alert] != 0)
        & (~cc.on_visit[cg] | ac.may_divert[alert])
        & cc.on_shift[cg]
    )
    if len(excluded := _pairs(snapshot, index, "excluded")):
        keep &= ~np.isin(pair, excluded)
    alert, cg, pair = alert[keep], cg[keep], pair[keep]

    origins, destinations = cc.position[cg], ac.position[alert]
    distance_m = great_circles_m(origins, destinations)
    mode = cc.mode[cg]
    if isinstance(travel, StraightLineTravel):  # from the distances just computed
        eta_s = travel.travel_times_by_mode_s(distance_m, mode, MODES)
    else:
        eta_s = np.empty(len(cg), dtype=np.float64)
        for m in np.flatnonzero(np.bincount(mode, minlength=len(MODES))):
            same = mode == m
            eta_s[same] = travel.travel_times_s(origins[same], destinations[same], MODES[m])

    # On shift from now until the expected end of the visit at the door, to the
    # microsecond, as datetime arithmetic would say.
    eta_us = _microseconds(eta_s)
    leaves = (_time_us(snapshot.now) + eta_us + ac.on_scene_us[alert]) % DAY_US
    keep = _within(leaves, cc.shift_start_us[cg], cc.shift_end_us[cg])
    alert, cg, pair = alert[keep], cg[keep], pair[keep]
    distance_m, eta_s, eta_us = distance_m[keep], eta_s[keep], eta_us[keep]

    late_s = np.maximum(0.0, (eta_us - ac.left_us[alert]) / US_PER_S)
    known = _pairs(snapshot, index, "familiar")
    familiar = np.isin(pair, known) if len(known) else np.zeros(len(pair), dtype=np.bool_)
    # The same sum, in the same order, as the rule reads in docs/matching.md.
    cost_s = eta_s + policy.lateness_penalty * late_s
    cost_s += np.where(cc.age_s[cg] > policy.stale_after_s, policy.stale_penalty_s, 0.0)
    cost_s += policy.load_penalty_s * cc.orders_today[cg]
    cost_s -= np.where(familiar, policy.familiar_bonus_s, 0.0)
    cost_s += np.where(cc.on_visit[cg], policy.divert_penalty_s, 0.0)
    # A good credit score, only for arrivals by the deadline: never worth lateness.
    cost_s -= np.where(late_s == 0.0, cc.credit_bonus_s[cg], 0.0)
    cost_s = np.maximum(cost_s, 0.0)
    weighted = ac.weight[alert] * np.round(cost_s).astype(np.int64)

    # Pairs are in (alert, caregiver) order already: ties keep the snapshot's order.
    order = np.lexsort((eta_s, cost_s, alert))
    alert = alert[order]
    return Arcs(
        alert=alert,
        caregiver=cg[order],
        distance_m=distance_m[order],
        eta_s=eta_s[order],
        late_s=late_s[order],
        cost_s=cost_s[order],
        weighted=weighted[order],
        familiar=familiar[order],
        first=np.searchsorted(alert, np.arange(len(alerts) + 1)).astype(np.int64),
    )


@dataclass(frozen=True, slots=True, eq=False)
class _AlertColumns:
    """What the rules read of each alert, one array per field, in one pass."""

    position: Floats  # one row per alert: latitude, longitude
    skills: Ints  # bit set of the skills any one of which qualifies
    may_divert: Flags  # severe enough to take someone off a planned visit
    on_scene_us: Ints
    left_us: Ints  # until the arrival deadline (negative: already late)
    weight: Ints  # severity weight

    @classmethod
    def of(
        cls, snapshot: MatchSnapshot, policy: MatchPolicy, skill_bit: Mapping[str, int]
    ) -> _AlertColumns:
        now = snapshot.now
        # What an alert's type says is the same for every alert of the type: a
        # round has hundreds of alerts and a handful of types.
        # (Keyed by identity: a dataclass's hash is Python code, and the catalog's
        # types are shared objects.)
        by_type: dict[int, tuple[int, int, int, int, int]] = {}
        for kind in {id(a.alert_type): a.alert_type for a in snapshot.alerts}.values():
            by_type[id(kind)] = (
                _bits(kind.skills, skill_bit),
                kind.severity in policy.divert_severities,
                kind.on_scene_s * US_PER_S,
                kind.arrival_deadline_s * US_PER_S,
                kind.severity.weight,
            )
        position = np.array(
            [(a.position.lat, a.position.lon) for a in snapshot.alerts], dtype=np.float64
        ).reshape(-1, 2)
        ints = np.array(
            [by_type[id(a.alert_type)] for a in snapshot.alerts], dtype=np.int64
        ).reshape(-1, 5)
        # Until the deadline: raised_at + the type's deadline - now, to the microsecond.
        since = np.fromiter(
            (_us(a.raised_at, now) for a in snapshot.alerts),
            dtype=np.int64,
            count=len(snapshot.alerts),
        )
        return cls(
            position, ints[:, 0], ints[:, 1] != 0, ints[:, 2], since + ints[:, 3], ints[:, 4]
        )


@dataclass(frozen=True, slots=True, eq=False)
class _CaregiverColumns:
    """What the rules read of each caregiver, one array per field, in one pass."""

    position: Floats  # one row per caregiver: latitude, longitude
    age_s: Floats  # of the position
    skills: Ints  # bit set
    busy: Flags
    on_visit: Flags
    on_shift: Flags  # now
    mode: Ints  # index into MODES
    shift_start_us: Ints  # since local midnight
    shift_end_us: Ints
    orders_today: Ints
    credit_bonus_s: Floats

    @classmethod
    def of(
        cls, table: CaregiverTable, now: datetime, skill_bit: Mapping[str, int]
    ) -> _CaregiverColumns:
        # Skill sets, shifts and modes repeat across a team: each is read once,
        # then each caregiver's is looked up in C (by identity: a fleet table
        # shares them, and a dataclass's hash is Python code). Equal sets and
        # shifts that are different objects are weighed once too (a frozenset
        # keeps its hash; a shift is keyed by its two times, whose hash is C code).
        n = len(table)
        by_skills = {s: _bits(s, skill_bit) for s in set(_distinct(table.skills).values())}
        bits = {k: by_skills[s] for k, s in _distinct(table.skills).items()}
        by_times: dict[tuple[time, time], tuple[bool, int, int]] = {}
        windows = {}
        for k, v in _distinct(table.shift).items():
            key = (v.start, v.end)
            if key not in by_times:
                by_times[key] = (v.covers(now), _time_us(v.start), _time_us(v.end))
            windows[k] = by_times[key]
        mode = {id(m): i for i, m in enumerate(MODES)}
        window = np.array([windows[k] for k in map(id, table.shift)], dtype=np.int64).reshape(-1, 3)
        return cls(
            np.column_stack((table.lat, table.lon)),
            table.position_age_s,
            np.fromiter(map(bits.__getitem__, map(id, table.skills)), dtype=np.int64, count=n),
            table.busy,
            table.on_visit,
            window[:, 0] != 0,
            np.fromiter(map(mode.__getitem__, map(id, table.mode)), dtype=np.int64, count=n),
            window[:, 1],
            window[:, 2],
            table.orders_today,
            np.zeros(n) if table.credit_bonus_s is None else table.credit_bonus_s,
        )


def _distinct(values: Sequence[_T]) -> dict[int, _T]:
    """Each distinct object of ``values`` by its identity."""
    return dict(zip(map(id, values), values, strict=True))


class _Index:
    """Position in the table by caregiver id, -1 for a stranger; made when first asked.

    Keyed by ``UUID.int``: UUID's own hash is Python code, and a surge round looks
    up thousands of ids.
    """

    def __init__(self, table: CaregiverTable) -> None:
        self._table = table
        self._index: defaultdict[int, int] | None = None

    def of(self, caregiver_id: UUID) -> int:
        if self._index is None:
            self._index = defaultdict(lambda: -1)
            self._index.update(
                zip(map(_NUMBER, self._table.ids), range(len(self._table)), strict=True)
            )
        return self._index[caregiver_id.int]


_NUMBER = attrgetter("int")


def _bits(skills: Iterable[str], bit: Mapping[str, int]) -> int:
    return sum(bit.get(s, 0) for s in skills)


def _pairs(snapshot: MatchSnapshot, index: _Index, field: Literal["excluded", "familiar"]) -> Ints:
    """alert x caregivers + caregiver, for each caregiver an alert names in ``field``."""
    n = len(snapshot.caregivers)
    pairs = [(i, index.of(c)) for i, a in enumerate(snapshot.alerts) for c in getattr(a, field)]
    return np.array([i * n + j for i, j in pairs if j >= 0], dtype=np.int64)


def _microseconds(seconds: Floats) -> Ints:
    """What ``timedelta(seconds=s)`` keeps: whole seconds, then the fraction rounded half-even."""
    whole = np.floor(seconds)
    result: Ints = whole.astype(np.int64) * US_PER_S + np.round(
        (seconds - whole) * US_PER_S
    ).astype(np.int64)
    return result


def _time_us(t: time | datetime) -> int:
    """Microseconds since midnight of the local wall-clock time."""
    return ((t.hour * 60 + t.minute) * 60 + t.second) * US_PER_S + t.microsecond


def _us(later: datetime, earlier: datetime) -> int:
    delta = later - earlier
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def _within(moment_us: Ints, start_us: Ints, end_us: Ints) -> Flags:
    """``Shift.covers`` for each row: start <= t < end, or across midnight."""
    same_day = start_us < end_us
    result: Flags = np.where(
        same_day,
        (start_us <= moment_us) & (moment_us < end_us),
        (moment_us >= start_us) | (moment_us < end_us),
    )
    return result
