"""The emergency matcher: a pure function from a snapshot to decisions.

Objective (docs/matching.md): minimise, over all waiting alerts together,

    Σ severity weight × (arrival s + lateness penalty × late s + adjustments)

where the adjustments break near-ties the way a good dispatcher would: a stale
position costs a little (the caregiver may have moved), each emergency already
served today costs a little (spread the load), a caregiver the elder knows saves a
little, and pulling someone off a planned home visit costs a lot. Lateness past
the deadline is weighed far above any saving, and leaving an alert without a
caregiver costs more than any assignment, so every alert that can be served is.

Alerts waiting at one moment are solved as one min-cost flow (exact), not one by
one: a nearest-first rule can take the only first-aider near a fall for a bell
press next door. An alert that needs two caregivers supplies two units of flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from ortools.graph.python import min_cost_flow

from dispatch.matching.model import (
    OPTIONS_EXPLAINED,
    UNASSIGNED_COST_S,
    Candidate,
    Decision,
    Escalation,
    MatchPolicy,
    MatchSnapshot,
    Option,
    WaitingAlert,
)
from dispatch.matching.travel import TravelModel

__all__ = [
    "UNASSIGNED_COST_S",
    "Candidate",
    "Decision",
    "Escalation",
    "MatchPolicy",
    "MatchSnapshot",
    "Option",
    "WaitingAlert",
    "assign",
]


def _options(
    alert: WaitingAlert, snapshot: MatchSnapshot, travel: TravelModel, policy: MatchPolicy
) -> list[Option]:
    options = []
    on_scene = timedelta(seconds=alert.alert_type.on_scene_s)
    pool = snapshot.caregivers
    if alert.nearby is not None:
        pool = tuple(c for c in pool if c.caregiver_id in alert.nearby)
    for cg in pool:
        if cg.busy or cg.caregiver_id in alert.excluded or not alert.alert_type.allows(cg.skills):
            continue
        if cg.on_visit and alert.alert_type.severity not in policy.divert_severities:
            continue
        eta_s = travel.travel_time_s(cg.position, alert.position, cg.mode)
        # On shift from now until the expected end of the visit at the door.
        if not cg.shift.covers_span(snapshot.now, timedelta(seconds=eta_s) + on_scene):
            continue
        arrival = snapshot.now + timedelta(seconds=eta_s)
        late_s = max(0.0, (arrival - alert.deadline).total_seconds())
        cost_s, notes = eta_s + policy.lateness_penalty * late_s, []
        if cg.position_age_s > policy.stale_after_s:
            cost_s += policy.stale_penalty_s
            notes.append(f"position {cg.position_age_s:.0f} s old")
        if cg.orders_today:
            cost_s += policy.load_penalty_s * cg.orders_today
            notes.append(f"{cg.orders_today} emergencies today")
        if cg.caregiver_id in alert.familiar:
            cost_s -= policy.familiar_bonus_s
            notes.append("known to the elder")
        if cg.on_visit:
            cost_s += policy.divert_penalty_s
            notes.append("diverted from a planned visit")
        options.append(Option(cg.caregiver_id, eta_s, late_s, max(0.0, cost_s), tuple(notes)))
    options.sort(key=lambda o: (o.cost_s, o.eta_s))
    return options


def _weighted(alert: WaitingAlert, cost_s: float) -> int:
    return alert.alert_type.severity.weight * round(cost_s)


def assign(
    snapshot: MatchSnapshot, travel: TravelModel, policy: MatchPolicy | None = None
) -> list[Decision]:
    """Assign waiting alerts to caregivers, all at once, optimally.

    Returns one Decision per alert, in the snapshot's order.
    """
    policy = policy or MatchPolicy()
    alerts, caregivers = snapshot.alerts, snapshot.caregivers
    if not alerts:
        return []
    options = [_options(a, snapshot, travel, policy) for a in alerts]
    cg_node = {c.caregiver_id: len(alerts) + i for i, c in enumerate(caregivers)}
    sink = len(alerts) + len(caregivers)

    flow = min_cost_flow.SimpleMinCostFlow()
    arc_option: dict[int, Option] = {}
    for i, (alert, opts) in enumerate(zip(alerts, options, strict=True)):
        flow.set_node_supply(i, alert.slots)
        for opt in opts:
            arc = flow.add_arc_with_capacity_and_unit_cost(
                i, cg_node[opt.caregiver_id], 1, _weighted(alert, opt.cost_s)
            )
            arc_option[arc] = opt
        flow.add_arc_with_capacity_and_unit_cost(
            i, sink, alert.slots, _weighted(alert, UNASSIGNED_COST_S)
        )
    for node in cg_node.values():
        flow.add_arc_with_capacity_and_unit_cost(node, sink, 1, 0)
    flow.set_node_supply(sink, -sum(a.slots for a in alerts))

    status = flow.solve()
    if status != flow.OPTIMAL:  # cannot happen: every alert has its escape arc
        raise RuntimeError(f"min-cost flow failed with status {status}")

    chosen: dict[int, list[Option]] = {}
    for arc, opt in arc_option.items():
        if flow.flow(arc):
            chosen.setdefault(flow.tail(arc), []).append(opt)

    decisions = []
    for i, (alert, opts) in enumerate(zip(alerts, options, strict=True)):
        picks = tuple(sorted(chosen.get(i, ()), key=lambda o: o.cost_s))
        escalation = _escalation(alert, snapshot, opts, picks, policy)
        decisions.append(
            Decision(
                alert_id=alert.alert_id,
                chosen=picks,
                considered=tuple(opts[:OPTIONS_EXPLAINED]),
                reason=_explain(alert, snapshot, opts, picks, escalation),
                escalation=escalation,
            )
        )
    return decisions


def _escalation(
    alert: WaitingAlert,
    snapshot: MatchSnapshot,
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
    qualified = [
        c
        for c in snapshot.caregivers
        if alert.alert_type.allows(c.skills) and c.shift.covers(snapshot.now)
    ]
    if not qualified:
        return Escalation.NO_SKILL_ON_SHIFT
    if all(c.caregiver_id in alert.excluded for c in qualified if not c.busy) and any(
        not c.busy for c in qualified
    ):
        return Escalation.NO_ANSWER
    return Escalation.ALL_BUSY


def _explain(
    alert: WaitingAlert,
    snapshot: MatchSnapshot,
    opts: Sequence[Option],
    picks: Sequence[Option],
    escalation: Escalation | None,
) -> str:
    skills = " or ".join(sorted(alert.alert_type.skills))
    if not picks:
        if escalation is Escalation.NO_SKILL_ON_SHIFT:
            return f"no free caregiver with skill {skills!r} on shift"
        if opts:
            return "every qualified caregiver is needed for a more urgent or closer alert"
        return f"{escalation}: no free caregiver with skill {skills!r} can go"
    parts = []
    for pick in picks:
        if pick == opts[0]:
            parts.append(f"best qualified caregiver: {pick.explain()}")
        else:
            parts.append(
                f"{pick.explain()}; the better option ({opts[0].explain()}) serves another "
                "waiting alert (joint optimum)"
                if opts[0] not in picks
                else f"second caregiver: {pick.explain()}"
            )
    if escalation is Escalation.TOO_FAR:
        parts.append("nobody can reach the elder by the deadline; operators informed")
    return "; ".join(parts)
