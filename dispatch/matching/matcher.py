"""The emergency matcher: a pure function from a snapshot to decisions.

Objective (documented in docs/architecture.md): minimise the sum over alerts of
``severity weight × (estimated arrival seconds + 10 × seconds late past the
deadline)``. Leaving an alert unassigned costs more than any assignment, so the
solver assigns every alert it can. All alerts waiting at one moment are solved
together as one min-cost flow (exact), not greedily one after another: a nearest-
first rule can take the only nurse near a fall for a bell press next door.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from ortools.graph.python import min_cost_flow

from dispatch.domain.model import AlertType, GeoPoint, Shift, TransportMode
from dispatch.matching.travel import TravelModel

LATENESS_PENALTY = 10  # one second late weighs like ten seconds of travel
UNASSIGNED_COST_S = 10_000_000  # far above any real arrival time
OPTIONS_EXPLAINED = 5


@dataclass(frozen=True, slots=True)
class WaitingAlert:
    alert_id: UUID
    position: GeoPoint
    alert_type: AlertType
    raised_at: datetime
    excluded: frozenset[UUID] = frozenset()  # caregivers who declined or let it expire

    @property
    def deadline(self) -> datetime:
        return self.raised_at + timedelta(seconds=self.alert_type.arrival_deadline_s)


@dataclass(frozen=True, slots=True)
class FreeCaregiver:
    """A caregiver with no active emergency, as seen at the snapshot's moment."""

    caregiver_id: UUID
    position: GeoPoint
    skills: frozenset[str]
    shift: Shift
    mode: TransportMode


@dataclass(frozen=True, slots=True)
class MatchSnapshot:
    """Everything the matcher needs, frozen at one moment (``now`` is city-local)."""

    now: datetime
    alerts: tuple[WaitingAlert, ...]
    caregivers: tuple[FreeCaregiver, ...]

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("snapshot time must be timezone-aware")
        if len({a.alert_id for a in self.alerts}) != len(self.alerts):
            raise ValueError("an alert appears twice in the snapshot")
        if len({c.caregiver_id for c in self.caregivers}) != len(self.caregivers):
            raise ValueError("a caregiver appears twice in the snapshot")


@dataclass(frozen=True, slots=True)
class Option:
    caregiver_id: UUID
    eta_s: float
    late_s: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The matcher's answer for one alert, with what it weighed."""

    alert_id: UUID
    chosen: Option | None
    considered: tuple[Option, ...] = field(default=())
    reason: str = ""


def _options(alert: WaitingAlert, snapshot: MatchSnapshot, travel: TravelModel) -> list[Option]:
    options = []
    for cg in snapshot.caregivers:
        if cg.caregiver_id in alert.excluded or not alert.alert_type.allows(cg.skills):
            continue
        eta_s = travel.travel_time_s(cg.position, alert.position, cg.mode)
        arrival = snapshot.now + timedelta(seconds=eta_s)
        if not cg.shift.covers_span(snapshot.now, timedelta(seconds=eta_s)):
            continue
        late_s = max(0.0, (arrival - alert.deadline).total_seconds())
        options.append(Option(cg.caregiver_id, eta_s, late_s))
    options.sort(key=lambda o: (o.late_s, o.eta_s))
    return options


def _cost(alert: WaitingAlert, option: Option) -> int:
    return alert.alert_type.severity.weight * round(option.eta_s + LATENESS_PENALTY * option.late_s)


def assign(snapshot: MatchSnapshot, travel: TravelModel) -> list[Decision]:
    """Assign waiting alerts to free caregivers, all at once, optimally.

    Returns one Decision per alert, in the snapshot's order. An alert whose
    ``chosen`` is None must be escalated to an operator with ``reason``.
    """
    alerts, caregivers = snapshot.alerts, snapshot.caregivers
    if not alerts:
        return []
    options = [_options(a, snapshot, travel) for a in alerts]
    cg_index = {c.caregiver_id: len(alerts) + i for i, c in enumerate(caregivers)}
    sink = len(alerts) + len(caregivers)

    flow = min_cost_flow.SimpleMinCostFlow()
    arc_option: dict[int, Option] = {}
    for i, (alert, opts) in enumerate(zip(alerts, options, strict=True)):
        flow.set_node_supply(i, 1)
        for opt in opts:
            arc = flow.add_arc_with_capacity_and_unit_cost(
                i, cg_index[opt.caregiver_id], 1, _cost(alert, opt)
            )
            arc_option[arc] = opt
        flow.add_arc_with_capacity_and_unit_cost(
            i, sink, 1, alert.alert_type.severity.weight * UNASSIGNED_COST_S
        )
    for node in cg_index.values():
        flow.add_arc_with_capacity_and_unit_cost(node, sink, 1, 0)
    flow.set_node_supply(sink, -len(alerts))

    status = flow.solve()
    if status != flow.OPTIMAL:  # cannot happen: every alert has its escape arc
        raise RuntimeError(f"min-cost flow failed with status {status}")

    chosen: dict[int, Option] = {}
    for arc, opt in arc_option.items():
        if flow.flow(arc):
            chosen[flow.tail(arc)] = opt

    decisions = []
    for i, (alert, opts) in enumerate(zip(alerts, options, strict=True)):
        pick = chosen.get(i)
        decisions.append(
            Decision(
                alert_id=alert.alert_id,
                chosen=pick,
                considered=tuple(opts[:OPTIONS_EXPLAINED]),
                reason=_explain(alert, opts, pick),
            )
        )
    return decisions


def _explain(alert: WaitingAlert, opts: Sequence[Option], pick: Option | None) -> str:
    skill = " or ".join(sorted(alert.alert_type.skills))
    if pick is None:
        if not opts:
            return f"no free caregiver with skill '{skill}' on shift"
        return "every qualified caregiver is needed for a more urgent or closer alert"
    late = f", {pick.late_s:.0f} s past the deadline" if pick.late_s else ""
    if pick == opts[0]:
        return f"fastest qualified caregiver: arrives in {pick.eta_s:.0f} s{late}"
    return (
        f"arrives in {pick.eta_s:.0f} s{late}; the faster {opts[0].eta_s:.0f} s option "
        "serves another waiting alert better (joint optimum)"
    )
