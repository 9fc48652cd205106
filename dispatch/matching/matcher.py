"""The emergency matcher: a pure function from a snapshot to decisions.

Objective (docs/matching.md): minimise, over all waiting alerts together,

    Σ severity weight × (arrival s + lateness penalty × late s + adjustments)

where the adjustments break near-ties the way a good dispatcher would: a stale
position costs a little (the caregiver may have moved), each emergency already
served today costs a little (spread the load), a caregiver the elder knows saves a
little, and pulling someone off a planned home visit costs a lot. Lateness past
the deadline is weighed far above any saving, and leaving an alert without a
caregiver costs more than any assignment, so every alert that can be served is.

Alerts waiting at one moment are solved together, exactly, as one min-cost
assignment (ADR 0004), not one by one: a nearest-first rule can take the only
first-aider near a fall for a bell press next door. An alert that needs two
caregivers is two rows of the assignment.

Three steps, each its own module: ``arcs`` weighs every allowed pair at once,
``assignment`` picks the cheapest set of pairs, and this module turns the picks
into decisions that explain themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

import numpy as np

from dispatch.domain.model import AlertType
from dispatch.matching.arcs import allowed_arcs
from dispatch.matching.assignment import cheapest_arcs
from dispatch.matching.model import (
    OPTIONS_EXPLAINED,
    UNASSIGNED_COST_S,
    Candidate,
    CaregiverTable,
    Decision,
    Escalation,
    Found,
    MatchPolicy,
    MatchSnapshot,
    Option,
    WaitingAlert,
)
from dispatch.matching.travel import TravelModel

__all__ = [
    "UNASSIGNED_COST_S",
    "Candidate",
    "CaregiverTable",
    "Decision",
    "Escalation",
    "Found",
    "MatchPolicy",
    "MatchSnapshot",
    "Option",
    "WaitingAlert",
    "assign",
    "options",
    "weighted",
]


_SLOTS = attrgetter("slots")
_WEIGHT = attrgetter("alert_type.severity.weight")


def weighted(alert: WaitingAlert, cost_s: float) -> int:
    """What the objective charges for ``cost_s`` seconds at ``alert``'s severity."""
    return alert.alert_type.severity.weight * round(cost_s)


def options(
    snapshot: MatchSnapshot, travel: TravelModel, policy: MatchPolicy | None = None
) -> list[tuple[Option, ...]]:
    """Every caregiver each alert may get, best first (what ``assign`` weighs)."""
    policy = policy or MatchPolicy()
    arcs = allowed_arcs(snapshot, travel, policy)
    every = arcs.options(range(len(arcs)), snapshot, policy)
    first = arcs.first.tolist()
    return [tuple(every[first[i] : first[i + 1]]) for i in range(len(snapshot.alerts))]


def assign(
    snapshot: MatchSnapshot, travel: TravelModel, policy: MatchPolicy | None = None
) -> list[Decision]:
    """Assign waiting alerts to caregivers, all at once, optimally.

    Returns one Decision per alert, in the snapshot's order.
    """
    policy = policy or MatchPolicy()
    alerts = snapshot.alerts
    if not alerts:
        return []
    arcs = allowed_arcs(snapshot, travel, policy)
    taken = cheapest_arcs(
        arcs.alert,
        arcs.caregiver,
        arcs.weighted,
        slots=np.fromiter(map(_SLOTS, alerts), np.int64, len(alerts)),
        unassigned=np.fromiter(map(_WEIGHT, alerts), np.int64, len(alerts)) * UNASSIGNED_COST_S,
    )
    # Explain only what a decision shows: the best few options and the picks.
    first = arcs.first.tolist()
    shown = [
        range(first[i], min(first[i + 1], first[i] + OPTIONS_EXPLAINED)) for i in range(len(alerts))
    ]
    picked: list[list[int]] = [[] for _ in alerts]
    for k, i in zip(np.flatnonzero(taken).tolist(), arcs.alert[taken].tolist(), strict=True):
        picked[i].append(k)  # in arc order: best first
    needed = sorted({k for r in shown for k in r}.union(*picked))
    option = dict(zip(needed, arcs.options(needed, snapshot, policy), strict=True)).__getitem__
    qualified = _Qualified(snapshot)
    kinds = {id(a.alert_type): a.alert_type for a in alerts}  # a handful of types a round
    skills = {k: " or ".join(sorted(t.skills)) for k, t in kinds.items()}
    decisions = []
    for alert, show, picks_at in zip(alerts, shown, picked, strict=True):
        considered = tuple(map(option, show))
        picks = tuple(map(option, picks_at))
        escalation = _escalation(alert, qualified, considered, picks, policy)
        reason = _explain(skills[id(alert.alert_type)], considered, picks, escalation)
        decisions.append(Decision(alert.alert_id, picks, considered, reason, escalation))
    return decisions


class _Qualified:
    """Caregivers of the snapshot with an alert type's skill, on shift now."""

    def __init__(self, snapshot: MatchSnapshot) -> None:
        self._snapshot = snapshot
        self._by_type: dict[AlertType, list[Candidate]] = {}

    def __call__(self, alert_type: AlertType) -> list[Candidate]:
        if alert_type not in self._by_type:
            now = self._snapshot.now
            self._by_type[alert_type] = [
                c
                for c in self._snapshot.caregivers
                if alert_type.allows(c.skills) and c.shift.covers(now)
            ]
        return self._by_type[alert_type]


def _escalation(
    alert: WaitingAlert,
    qualified_for: _Qualified,
    opts: Sequence[Option],
    picks: Sequence[Option],
    policy: MatchPolicy,
) -> Escalation | None:
    if picks:
        if any(p.late_s for p in picks):
            return Escalation.TOO_FAR
        if len(alert.excluded) >= policy.offers_before_escalation:
            return Escalation.NO_ANSWER
        return None
    if opts:
        return Escalation.ALL_BUSY  # the qualified ones serve more urgent alerts
    qualified = qualified_for(alert.alert_type)
    if not qualified:
        return Escalation.NO_SKILL_ON_SHIFT
    if all(c.caregiver_id in alert.excluded for c in qualified if not c.busy) and any(
        not c.busy for c in qualified
    ):
        return Escalation.NO_ANSWER
    return Escalation.ALL_BUSY


def _explain(
    skills: str,
    opts: Sequence[Option],
    picks: Sequence[Option],
    escalation: Escalation | None,
) -> str:
    if not picks:
        if escalation is Escalation.NO_SKILL_ON_SHIFT:
            return f"no free caregiver with skill {skills!r} on shift"
        if opts:
            return "every qualified caregiver is needed for a more urgent or closer alert"
        return f"{escalation}: no free caregiver with skill {skills!r} can go"
    parts = []
    for pick in picks:
        # (By identity: the options are shared, and comparing compares ids in Python.)
        if pick is opts[0]:
            parts.append(f"best qualified caregiver: {pick.explain()}")
        else:
            parts.append(
                f"{pick.explain()}; the better option ({opts[0].explain()}) serves another "
                "waiting alert (joint optimum)"
                if all(p is not opts[0] for p in picks)
                else f"second caregiver: {pick.explain()}"
            )
    if escalation is Escalation.TOO_FAR:
        parts.append("nobody can reach the elder by the deadline; operators informed")
    return "; ".join(parts)
