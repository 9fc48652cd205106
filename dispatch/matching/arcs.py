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
from itertools import chain
from operator import attrgetter
from typing import Literal

import numpy as np
import numpy.typing as npt

from dispatch.domain.model import TransportMode
from dispatch.matching.model import Candidate, MatchPolicy, MatchSnapshot, Option
from dispatch.matching.travel import TravelModel, great_circles_m

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]

US_PER_S = 1_000_000
DAY_US = 86_400 * US_PER_S
MODES = tuple(TransportMode)


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
        cgs = snapshot.caregivers
        who = self.caregiver[at].tolist()
        # A caregiver's notes are the same on every alert but for "known to the elder".
        notes = {j: _notes(cgs[j], False, policy) for j in set(who)}
        return [
            Option(
                cgs[j].caregiver_id,
                eta,
                late,
                cost,
                _notes(cgs[j], True, policy) if familiar else notes[j],
                m,
            )
            for j, eta, late, cost, familiar, m in zip(
                who,
                self.eta_s[at].tolist(),
                self.late_s[at].tolist(),
                self.cost_s[at].tolist(),
                self.familiar[at].tolist(),
                self.distance_m[at].tolist(),
                strict=True,
            )
        ]


def _notes(cg: Candidate, familiar: bool, policy: MatchPolicy) -> tuple[str, ...]:
    notes = []
    if cg.position_age_s > policy.stale_after_s:
        notes.append(f"position {cg.position_age_s:.0f} s old")
    if cg.orders_today:
        notes.append(f"{cg.orders_today} emergencies today")
    if familiar:
        notes.append("known to the elder")
    if cg.on_visit:
        notes.append("diverted from a planned visit")
    return tuple(notes)


def allowed_arcs(snapshot: MatchSnapshot, travel: TravelModel, policy: MatchPolicy) -> Arcs:
    """Every pair the rules allow, with its cost; see :class:`Arcs` for the order."""
    alerts, cgs = snapshot.alerts, snapshot.caregivers
    skill_bit = {
        s: 1 << b for b, s in enumerate(sorted({s for a in alerts for s in a.alert_type.skills}))
    }
    ac = _AlertColumns.of(snapshot, policy, skill_bit)
    cc = _CaregiverColumns.of(snapshot, skill_bit)
    index = _index(cgs)
    n = len(cgs)
    # Each pair as one number, alert x n + caregiver: sorted and unique in one go.
    searched = [(i, a.nearby) for i, a in enumerate(alerts) if a.nearby is not None]
    found = np.fromiter(
        map(index.__getitem__, map(_NUMBER, chain.from_iterable(ids for _, ids in searched))),
        dtype=np.int64,
    )
    owner = np.repeat(
        np.array([i for i, _ in searched], dtype=np.int64), [len(ids) for _, ids in searched]
    )
    pair = np.unique(
        np.concatenate(
            [
                (owner * n + found)[found >= 0],
                *(i * n + np.arange(n) for i, a in enumerate(alerts) if a.nearby is None),
            ]
        )
    )
    alert, cg = pair // max(n, 1), pair % max(n, 1)

    keep = (
        ~cc.busy[cg]
        & (cc.skills[cg] & ac.skills[alert] != 0)
        & (~cc.on_visit[cg] | ac.may_divert[alert])
        & cc.on_shift[cg]
    )
    keep &= ~np.isin(pair, _pairs(snapshot, index, "excluded"))
    alert, cg, pair = alert[keep], cg[keep], pair[keep]

    origins, destinations = cc.position[cg], ac.position[alert]
    distance_m = great_circles_m(origins, destinations)
    mode = cc.mode[cg]
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
    familiar = np.isin(pair, _pairs(snapshot, index, "familiar"))
    # The same sum, in the same order, as the rule reads in docs/matching.md.
    cost_s = eta_s + policy.lateness_penalty * late_s
    cost_s += np.where(cc.age_s[cg] > policy.stale_after_s, policy.stale_penalty_s, 0.0)
    cost_s += policy.load_penalty_s * cc.orders_today[cg]
    cost_s -= np.where(familiar, policy.familiar_bonus_s, 0.0)
    cost_s += np.where(cc.on_visit[cg], policy.divert_penalty_s, 0.0)
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

    @classmethod
    def of(cls, snapshot: MatchSnapshot, skill_bit: Mapping[str, int]) -> _CaregiverColumns:
        now = snapshot.now
        cgs = snapshot.caregivers
        floats = np.array(
            [(c.position.lat, c.position.lon, c.position_age_s) for c in cgs], dtype=np.float64
        ).reshape(-1, 3)
        # Skill sets and shifts repeat across a team: each is read once (a frozenset
        # keeps its hash; a shift is keyed by its two times, whose hash is C code).
        bits = {s: _bits(s, skill_bit) for s in {c.skills for c in cgs}}
        shifts = {(c.shift.start, c.shift.end): c.shift for c in cgs}
        window = {k: (v.covers(now), _time_us(v.start), _time_us(v.end)) for k, v in shifts.items()}
        mode = {id(m): i for i, m in enumerate(MODES)}
        ints = np.array(
            [
                (
                    bits[c.skills],
                    c.busy,
                    c.on_visit,
                    *window[c.shift.start, c.shift.end],
                    mode[id(c.mode)],
                    c.orders_today,
                )
                for c in cgs
            ],
            dtype=np.int64,
        ).reshape(-1, 8)
        flags = ints[:, 1:4] != 0
        return cls(
            floats[:, :2],
            floats[:, 2],
            ints[:, 0],
            flags[:, 0],
            flags[:, 1],
            flags[:, 2],
            ints[:, 6],
            ints[:, 4],
            ints[:, 5],
            ints[:, 7],
        )


def _index(cgs: Sequence[Candidate]) -> defaultdict[int, int]:
    """Position in the snapshot by the id's number, -1 for a stranger.

    Keyed by ``UUID.int``: UUID's own hash is Python code, and a surge round looks
    up thousands of ids.
    """
    index: defaultdict[int, int] = defaultdict(lambda: -1)
    index.update((c.caregiver_id.int, j) for j, c in enumerate(cgs))
    return index


_NUMBER = attrgetter("int")


def _bits(skills: Iterable[str], bit: Mapping[str, int]) -> int:
    return sum(bit.get(s, 0) for s in skills)


def _pairs(
    snapshot: MatchSnapshot, index: Mapping[int, int], field: Literal["excluded", "familiar"]
) -> Ints:
    """alert x caregivers + caregiver, for each caregiver an alert names in ``field``."""
    n = len(snapshot.caregivers)
    pairs = [(i, index[c.int]) for i, a in enumerate(snapshot.alerts) for c in getattr(a, field)]
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
