"""The matcher as a pure function: snapshot in, decisions out."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from dispatch.domain.model import (
    AlertType,
    GeoPoint,
    Severity,
    Shift,
    TransportMode,
    great_circle_m,
)
from dispatch.matching.matcher import (
    UNASSIGNED_COST_S,
    Candidate,
    CaregiverTable,
    Escalation,
    Found,
    MatchPolicy,
    MatchSnapshot,
    WaitingAlert,
    assign,
    options,
    weighted,
)
from dispatch.matching.travel import DetourTravelModel, great_circles_m

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
PRESS = AlertType(
    "help_button", Severity.HIGH, frozenset({"basic_care"}), 900, "Help", "一键呼叫", on_scene_s=0
)
FALL = AlertType(
    "fall", Severity.CRITICAL, frozenset({"first_aid"}), 600, "Fall", "跌倒", on_scene_s=0
)
ALL_DAY = Shift(time(0, 0), time(23, 59, 59))
TRAVEL = DetourTravelModel()


def point(north_m: float, east_m: float = 0.0) -> GeoPoint:
    return GeoPoint(30.0 + north_m / 111_320.0, 120.0 + east_m / 96_486.0)


def alert(at: GeoPoint, kind: AlertType = PRESS, **kw: object) -> WaitingAlert:
    return WaitingAlert(uuid.uuid4(), at, kind, NOW, **kw)  # type: ignore[arg-type]


def caregiver(
    at: GeoPoint,
    skills: tuple[str, ...] = ("basic_care",),
    shift: Shift = ALL_DAY,
    mode: TransportMode = TransportMode.EBIKE,
) -> Candidate:
    return Candidate(uuid.uuid4(), at, frozenset(skills), shift, mode)


def test_nearest_qualified_caregiver_wins() -> None:
    a = alert(point(0))
    near, far = caregiver(point(300)), caregiver(point(3000))
    [decision] = assign(MatchSnapshot(NOW, (a,), (far, near)), TRAVEL)
    assert decision.chosen
    assert decision.chosen[0].caregiver_id == near.caregiver_id
    assert [o.caregiver_id for o in decision.considered] == [near.caregiver_id, far.caregiver_id]
    assert decision.reason.startswith("best qualified caregiver: arrives in")
    assert decision.escalation is None


def test_a_good_credit_score_wins_a_near_tie() -> None:
    a = alert(point(0))
    near = caregiver(point(300))
    trusted = Candidate(
        uuid.uuid4(), point(400), frozenset({"basic_care"}), ALL_DAY, TransportMode.EBIKE,
        credit_bonus_s=60.0,
    )  # fmt: skip
    [decision] = assign(MatchSnapshot(NOW, (a,), (near, trusted)), TRAVEL)
    assert decision.chosen[0].caregiver_id == trusted.caregiver_id
    assert "credit bonus 60 s if on time" in decision.chosen[0].notes


def test_a_good_credit_score_never_beats_the_deadline() -> None:
    # A press's deadline is 900 s. By e-bike, 60 s to set off + 1.35 x d / 5.5:
    # 3,400 m is 894.5 s (on time), 3,430 m is 901.9 s (1.9 s late).
    a = alert(point(0))
    on_time = caregiver(point(3400))
    late_but_trusted = Candidate(
        uuid.uuid4(), point(3430), frozenset({"basic_care"}), ALL_DAY, TransportMode.EBIKE,
        credit_bonus_s=120.0,  # the most a bonus may be
    )  # fmt: skip
    [decision] = assign(MatchSnapshot(NOW, (a,), (late_but_trusted, on_time)), TRAVEL)
    [late_option] = [o for o in decision.considered if o.caregiver_id != on_time.caregiver_id]
    assert late_option.late_s > 0
    # Its bonus would have bought it the alert (7.4 s slower, 120 s forgiven):
    assert late_option.eta_s - 120.0 < decision.chosen[0].eta_s
    assert decision.chosen[0].caregiver_id == on_time.caregiver_id
    assert decision.chosen[0].late_s == 0.0
    with pytest.raises(ValueError, match="credit_bonus_s"):
        Candidate(
            uuid.uuid4(), point(0), frozenset({"x"}), ALL_DAY, TransportMode.CAR, credit_bonus_s=200
        )


def test_caregiver_without_the_skill_is_never_chosen() -> None:
    a = alert(point(0), FALL)
    untrained, first_aider = (
        caregiver(point(100)),
        caregiver(point(4000), ("basic_care", "first_aid")),
    )
    [decision] = assign(MatchSnapshot(NOW, (a,), (untrained, first_aider)), TRAVEL)
    assert decision.chosen
    assert decision.chosen[0].caregiver_id == first_aider.caregiver_id


def test_no_one_with_the_skill_leaves_the_alert_unassigned_with_the_reason() -> None:
    [decision] = assign(
        MatchSnapshot(NOW, (alert(point(0), FALL),), (caregiver(point(50)),)), TRAVEL
    )
    assert decision.chosen == ()
    assert decision.reason == "no free caregiver with skill 'first_aid' on shift"


def test_shift_must_cover_the_expected_arrival() -> None:
    a = alert(point(0))
    # Ends at 10:02: travelling 3 km by e-bike takes longer than two minutes.
    ending = caregiver(point(3000), shift=Shift(time(6, 0), time(10, 2)))
    overnight = caregiver(point(5000), shift=Shift(time(22, 0), time(10, 30)))
    [decision] = assign(MatchSnapshot(NOW, (a,), (ending, overnight)), TRAVEL)
    assert decision.chosen
    assert decision.chosen[0].caregiver_id == overnight.caregiver_id


def test_caregiver_who_already_declined_is_not_offered_again() -> None:
    near, far = caregiver(point(100)), caregiver(point(2000))
    a = alert(point(0), excluded=frozenset({near.caregiver_id}))
    [decision] = assign(MatchSnapshot(NOW, (a,), (near, far)), TRAVEL)
    assert decision.chosen
    assert decision.chosen[0].caregiver_id == far.caregiver_id


def test_batch_assignment_beats_nearest_first() -> None:
    # A first-aider stands between a bell press and a fall; a basic caregiver is
    # a little further from the press. Nearest-first gives the first-aider to the
    # press and leaves the fall without anyone qualified; the joint solve does not.
    press, fall = alert(point(0), PRESS), alert(point(1200), FALL)
    first_aider = caregiver(point(400), ("basic_care", "first_aid"))
    basic = caregiver(point(-500))
    decisions = assign(MatchSnapshot(NOW, (press, fall), (first_aider, basic)), TRAVEL)
    chosen = {d.alert_id: d.chosen[0].caregiver_id for d in decisions if d.chosen}
    assert chosen == {press.alert_id: basic.caregiver_id, fall.alert_id: first_aider.caregiver_id}
    assert "joint optimum" in decisions[0].reason


def test_each_caregiver_takes_at_most_one_alert() -> None:
    alerts = tuple(alert(point(i * 10)) for i in range(3))
    only = caregiver(point(0))
    decisions = assign(MatchSnapshot(NOW, alerts, (only,)), TRAVEL)
    assert sum(bool(d.chosen) for d in decisions) == 1
    left = [d for d in decisions if not d.chosen]
    assert all("needed for a more urgent or closer alert" in d.reason for d in left)


def test_lateness_weighs_more_than_travel_time() -> None:
    # X has 250 s left; only P reaches it in time. Pure travel time would send P
    # to the nearer Y and Q late to X; the lateness penalty keeps X on time.
    x = WaitingAlert(uuid.uuid4(), point(0), PRESS, NOW - timedelta(seconds=650))
    y = alert(point(896))
    p, q = caregiver(point(733)), caregiver(point(448, 869))
    snapshot = MatchSnapshot(NOW, (x, y), (p, q))

    policy = MatchPolicy()

    def chosen() -> dict[uuid.UUID, uuid.UUID]:
        return {
            d.alert_id: d.chosen[0].caregiver_id
            for d in assign(snapshot, TRAVEL, policy)
            if d.chosen
        }

    assert chosen() == {x.alert_id: p.caregiver_id, y.alert_id: q.caregiver_id}
    policy = MatchPolicy(lateness_penalty=1)
    assert chosen() == {x.alert_id: q.caregiver_id, y.alert_id: p.caregiver_id}


def reference_options(
    a: WaitingAlert, snapshot: MatchSnapshot, policy: MatchPolicy
) -> dict[uuid.UUID, float]:
    """docs/matching.md's rules, one pair at a time: caregiver id -> cost_s."""
    costs = {}
    for cg in snapshot.caregivers:
        if a.nearby is not None and cg.caregiver_id not in a.nearby:
            continue
        if cg.busy or cg.caregiver_id in a.excluded or not a.alert_type.allows(cg.skills):
            continue
        if cg.on_visit and a.alert_type.severity not in policy.divert_severities:
            continue
        eta_s = TRAVEL.travel_time_s(cg.position, a.position, cg.mode)
        on_scene = timedelta(seconds=a.alert_type.on_scene_s)
        if not cg.shift.covers_span(snapshot.now, timedelta(seconds=eta_s) + on_scene):
            continue
        arrival = snapshot.now + timedelta(seconds=eta_s)
        late_s = max(0.0, (arrival - a.deadline).total_seconds())
        cost_s = eta_s + policy.lateness_penalty * late_s
        if cg.position_age_s > policy.stale_after_s:
            cost_s += policy.stale_penalty_s
        cost_s += policy.load_penalty_s * cg.orders_today
        if cg.caregiver_id in a.familiar:
            cost_s -= policy.familiar_bonus_s
        if cg.on_visit:
            cost_s += policy.divert_penalty_s
        if late_s == 0.0:
            cost_s -= cg.credit_bonus_s
        costs[cg.caregiver_id] = max(0.0, cost_s)
    return costs


LIFT = AlertType(
    "lift_assist", Severity.MEDIUM, frozenset({"basic_care", "nursing"}), 900, "Lift", "搬扶",
    caregivers=2, on_scene_s=1200,
)  # fmt: skip


def random_snapshot(rng: random.Random, n_alerts: int, n_caregivers: int) -> MatchSnapshot:
    """Every rule in play: skills, shifts, busy, visits, declines, familiarity, load, age."""
    shifts = [
        ALL_DAY,
        Shift(time(6), time(10, 20)),
        Shift(time(22), time(10, 5)),
        Shift(time(11), time(19)),
    ]
    cgs = tuple(
        Candidate(
            uuid.uuid4(),
            point(rng.uniform(-4000, 4000), rng.uniform(-4000, 4000)),
            frozenset(rng.sample(["basic_care", "first_aid", "nursing"], rng.randint(1, 2))),
            rng.choice(shifts),
            rng.choice(list(TransportMode)),
            position_age_s=rng.choice([0.0, 30.0, 200.0]),
            busy=rng.random() < 0.1,
            on_visit=rng.random() < 0.1,
            orders_today=rng.choice([0, 0, 1, 3]),
            credit_bonus_s=(0.0, 0.0, 30.0, 60.0)[k % 4],  # not drawn: the same seeds
        )
        for k in range(n_caregivers)
    )  # fmt: skip
    ids = [c.caregiver_id for c in cgs]
    alerts = []
    for _ in range(n_alerts):
        kind = rng.choice([PRESS, FALL, LIFT])
        alerts.append(
            WaitingAlert(
                uuid.uuid4(),
                point(rng.uniform(-4000, 4000), rng.uniform(-4000, 4000)),
                kind,
                NOW - timedelta(seconds=rng.uniform(0, 700)),
                excluded=frozenset(rng.sample(ids, rng.choice([0, 0, 2]))),
                slots=kind.caregivers,
                familiar=frozenset(rng.sample(ids, rng.choice([0, 3]))),
                nearby=None if rng.random() < 0.3 else tuple(rng.sample(ids, n_caregivers // 2)),
            )
        )
    return MatchSnapshot(NOW, tuple(alerts), cgs)


@pytest.mark.parametrize("seed", range(1, 9))
def test_options_follow_the_rules_pair_by_pair(seed: int) -> None:
    snapshot = random_snapshot(random.Random(seed), 30, 60)
    policy = MatchPolicy()
    for a, opts in zip(snapshot.alerts, options(snapshot, TRAVEL, policy), strict=True):
        expected = reference_options(a, snapshot, policy)
        assert {o.caregiver_id: o.cost_s for o in opts} == pytest.approx(expected, rel=1e-12)
        assert [o.cost_s for o in opts] == sorted(o.cost_s for o in opts)


@pytest.mark.parametrize("seed", range(1, 9))
def test_batch_matches_the_exact_optimum_of_scipy(seed: int) -> None:
    snapshot = random_snapshot(random.Random(seed), 40, 60)
    alerts, cgs = snapshot.alerts, snapshot.caregivers
    decisions = assign(snapshot, TRAVEL)

    # The same problem built by hand from the rules: one row per caregiver an
    # alert needs, one "unassigned" column per row; scipy's dense solver.
    rows = [a for a in alerts for _ in range(a.slots)]
    big = 10**12
    cost = np.full((len(rows), len(cgs) + len(rows)), big, dtype=np.int64)
    index = {c.caregiver_id: j for j, c in enumerate(cgs)}
    for r, a in enumerate(rows):
        for cid, cost_s in reference_options(a, snapshot, MatchPolicy()).items():
            cost[r, index[cid]] = weighted(a, cost_s)
        cost[r, len(cgs) + r] = weighted(a, UNASSIGNED_COST_S)
    optimum = int(cost[linear_sum_assignment(cost)].sum())

    ours = sum(
        sum(weighted(a, o.cost_s) for o in d.chosen)
        + (a.slots - len(d.chosen)) * weighted(a, UNASSIGNED_COST_S)
        for a, d in zip(alerts, decisions, strict=True)
    )
    assert ours == optimum
    chosen = [o.caregiver_id for d in decisions for o in d.chosen]
    assert len(chosen) == len(set(chosen))
    assert all(len(d.chosen) <= a.slots for a, d in zip(alerts, decisions, strict=True))


def test_vectorised_distances_and_times_agree_with_the_scalar_ones() -> None:
    rng = random.Random(7)
    pairs = [
        (GeoPoint(rng.uniform(-80, 80), rng.uniform(-179, 179)), point(rng.uniform(-9e3, 9e3)))
        for _ in range(200)
    ]
    origins = np.array([(a.lat, a.lon) for a, _ in pairs])
    destinations = np.array([(b.lat, b.lon) for _, b in pairs])
    assert great_circles_m(origins, destinations).tolist() == pytest.approx(
        [great_circle_m(a, b) for a, b in pairs], rel=1e-12
    )
    for mode in TransportMode:
        assert TRAVEL.travel_times_s(origins, destinations, mode).tolist() == pytest.approx(
            [TRAVEL.travel_time_s(a, b, mode) for a, b in pairs], rel=1e-12
        )
    # From known distances, each pair by its own mode: the very same numbers.
    modes = tuple(TransportMode)
    mode = np.array([rng.randrange(len(modes)) for _ in pairs], dtype=np.int64)
    by_mode = TRAVEL.travel_times_by_mode_s(great_circles_m(origins, destinations), mode, modes)
    for k, m in enumerate(modes):
        same = mode == k
        assert (by_mode[same] == TRAVEL.travel_times_s(origins[same], destinations[same], m)).all()


def as_columns(snapshot: MatchSnapshot, rng: random.Random) -> MatchSnapshot:
    """The same snapshot as a server's fleet gives it: a table taken from a larger
    one (rows shuffled), and the alerts' searches as positions in it."""
    stranger = Candidate(
        uuid.uuid4(), point(0), frozenset({"basic_care"}), ALL_DAY, TransportMode.CAR
    )
    fleet = CaregiverTable.of([stranger, *reversed(snapshot.caregivers)])
    n = len(snapshot.caregivers)
    table = fleet.take(np.arange(n, 0, -1))  # the snapshot's order again
    row = {c.caregiver_id: j for j, c in enumerate(snapshot.caregivers)}
    every = list(range(n))
    found = [
        every if a.nearby is None else [row[c] for c in a.nearby] + rng.choice([[], [-1]])
        for a in snapshot.alerts
    ]
    return MatchSnapshot(
        snapshot.now,
        tuple(replace(a, nearby=None) for a in snapshot.alerts),
        table,
        Found(
            np.cumsum([0, *map(len, found)]).astype(np.int64),
            np.array([j for f in found for j in f], dtype=np.int64),
        ),
    )


@pytest.mark.parametrize("seed", range(1, 9))
def test_a_fleet_table_with_found_indices_decides_as_candidates_do(seed: int) -> None:
    rng = random.Random(seed)
    snapshot = random_snapshot(rng, 40, 60)
    columns = as_columns(snapshot, rng)

    assert list(columns.caregivers) == list(snapshot.caregivers)
    assert assign(columns, TRAVEL) == assign(snapshot, TRAVEL)
    assert options(columns, TRAVEL) == options(snapshot, TRAVEL)


class RoadTable:
    """A travel model that only answers tables of coordinates (as a road-network
    service would): the matcher asks it once per mode."""

    def travel_time_s(self, origin: GeoPoint, destination: GeoPoint, mode: TransportMode) -> float:
        return TRAVEL.travel_time_s(origin, destination, mode)

    def travel_times_s(
        self, origins: np.ndarray, destinations: np.ndarray, mode: TransportMode
    ) -> np.ndarray:
        return TRAVEL.travel_times_s(origins, destinations, mode)

    def reach_m(self, seconds: float, mode: TransportMode) -> float:
        return TRAVEL.reach_m(seconds, mode)


@pytest.mark.parametrize("seed", range(1, 5))
def test_a_travel_model_of_coordinates_alone_gives_the_same_decisions(seed: int) -> None:
    snapshot = random_snapshot(random.Random(seed), 30, 60)
    assert assign(snapshot, RoadTable()) == assign(snapshot, TRAVEL)


def test_a_fleet_table_refuses_ragged_columns_and_found_beyond_it() -> None:
    table = CaregiverTable.of([caregiver(point(10)), caregiver(point(20))])
    with pytest.raises(ValueError, match="one entry per caregiver"):
        replace(table, busy=table.busy[:1])
    a = alert(point(0))
    with pytest.raises(ValueError, match="beyond"):
        MatchSnapshot(NOW, (a,), table, Found(np.array([0, 1]), np.array([2])))
    with pytest.raises(ValueError, match="one entry per alert"):
        MatchSnapshot(NOW, (a,), table, Found(np.array([0]), np.array([], dtype=np.int64)))
    with pytest.raises(ValueError, match="appears twice"):
        MatchSnapshot(NOW, (a,), table.take(np.array([0, 0])))


def test_snapshot_refuses_naive_time_and_duplicates() -> None:
    a, c = alert(point(0)), caregiver(point(10))
    with pytest.raises(ValueError, match="timezone-aware"):
        MatchSnapshot(NOW.replace(tzinfo=None), (a,), (c,))
    with pytest.raises(ValueError, match="alert appears twice"):
        MatchSnapshot(NOW, (a, a), (c,))


def test_travel_model_is_detour_over_speed_plus_setoff() -> None:
    model = DetourTravelModel(detour_factor=1.5, setoff_s=30)
    t = model.travel_time_s(point(0), point(1000), TransportMode.WALK)
    metres = great_circle_m(point(0), point(1000))
    assert metres == pytest.approx(1000, rel=0.01)
    assert t == pytest.approx(30 + metres * 1.5 / 1.3)
    assert model.reach_m(t, TransportMode.WALK) == pytest.approx(metres)
    with pytest.raises(ValueError, match="detour_factor"):
        DetourTravelModel(detour_factor=0.9)


def test_shift_over_midnight() -> None:
    night = Shift(time(19, 0), time(7, 30))
    assert night.covers(NOW.replace(hour=23))
    assert night.covers(NOW.replace(hour=3))
    assert not night.covers(NOW.replace(hour=12))
    with pytest.raises(ValueError, match="same time"):
        Shift(time(8), time(8))


def test_shift_must_cover_arrival_and_the_time_on_scene() -> None:
    long_visit = AlertType(
        "sos", Severity.CRITICAL, frozenset({"basic_care"}), 600, "SOS", "求救", on_scene_s=1800
    )
    a = alert(point(0), long_visit)
    # Ends at 10:20: arrives in time, but would leave in the middle of the visit.
    leaving = caregiver(point(100), shift=Shift(time(6, 0), time(10, 20)))
    staying = caregiver(point(2500))
    [decision] = assign(MatchSnapshot(NOW, (a,), (leaving, staying)), TRAVEL)
    assert [o.caregiver_id for o in decision.chosen] == [staying.caregiver_id]


def test_stale_position_counts_with_a_penalty() -> None:
    a = alert(point(0))
    stale = Candidate(
        uuid.uuid4(),
        point(300),
        frozenset({"basic_care"}),
        ALL_DAY,
        TransportMode.EBIKE,
        position_age_s=250,
    )
    fresh = caregiver(point(600))
    [decision] = assign(MatchSnapshot(NOW, (a,), (stale, fresh)), TRAVEL)
    assert decision.chosen[0].caregiver_id == fresh.caregiver_id
    assert "position 250 s old" in decision.considered[1].notes
    # Without the penalty the stale one is nearer.
    [plain] = assign(
        MatchSnapshot(NOW, (a,), (stale, fresh)), TRAVEL, MatchPolicy(stale_penalty_s=0)
    )
    assert plain.chosen[0].caregiver_id == stale.caregiver_id


def test_load_is_balanced_when_times_are_close() -> None:
    a = alert(point(0))
    tired = Candidate(
        uuid.uuid4(),
        point(300),
        frozenset({"basic_care"}),
        ALL_DAY,
        TransportMode.EBIKE,
        orders_today=4,
    )
    rested = caregiver(point(400))
    far_rested = caregiver(point(3000))
    [decision] = assign(MatchSnapshot(NOW, (a,), (tired, rested, far_rested)), TRAVEL)
    assert decision.chosen[0].caregiver_id == rested.caregiver_id
    # Load never beats a real difference in arrival time.
    [alone] = assign(MatchSnapshot(NOW, (a,), (tired, far_rested)), TRAVEL)
    assert alone.chosen[0].caregiver_id == tired.caregiver_id


def test_a_caregiver_the_elder_knows_is_preferred_when_it_costs_little() -> None:
    known, stranger = caregiver(point(500)), caregiver(point(400))
    a = alert(point(0), familiar=frozenset({known.caregiver_id}))
    [decision] = assign(MatchSnapshot(NOW, (a,), (known, stranger)), TRAVEL)
    assert decision.chosen[0].caregiver_id == known.caregiver_id
    assert "known to the elder" in decision.chosen[0].notes
    far_known = caregiver(point(4000))
    b = alert(point(0), familiar=frozenset({far_known.caregiver_id}))
    [decision] = assign(MatchSnapshot(NOW, (b,), (far_known, stranger)), TRAVEL)
    assert decision.chosen[0].caregiver_id == stranger.caregiver_id


def test_busy_caregivers_are_never_offered() -> None:
    busy = Candidate(
        uuid.uuid4(), point(50), frozenset({"basic_care"}), ALL_DAY, TransportMode.EBIKE, busy=True
    )
    [decision] = assign(MatchSnapshot(NOW, (alert(point(0)),), (busy,)), TRAVEL)
    assert decision.chosen == ()
    assert decision.escalation is Escalation.ALL_BUSY


def test_planned_visit_is_diverted_only_for_critical_alerts() -> None:
    visiting = Candidate(
        uuid.uuid4(),
        point(200),
        frozenset({"basic_care", "first_aid"}),
        ALL_DAY,
        TransportMode.EBIKE,
        on_visit=True,
    )
    [press] = assign(MatchSnapshot(NOW, (alert(point(0), PRESS),), (visiting,)), TRAVEL)
    assert press.chosen == ()
    [fall] = assign(MatchSnapshot(NOW, (alert(point(0), FALL),), (visiting,)), TRAVEL)
    assert fall.chosen[0].caregiver_id == visiting.caregiver_id
    assert "diverted from a planned visit" in fall.chosen[0].notes
    # Policy decides: diverting nobody leaves the fall to the operators.
    [kept] = assign(
        MatchSnapshot(NOW, (alert(point(0), FALL),), (visiting,)),
        TRAVEL,
        MatchPolicy(divert_severities=frozenset()),
    )
    assert kept.chosen == ()


def test_two_person_alert_gets_two_different_caregivers() -> None:
    lift = AlertType(
        "lift_assist",
        Severity.HIGH,
        frozenset({"basic_care"}),
        900,
        "Lift",
        "搬扶",
        caregivers=2,
        on_scene_s=0,
    )
    a = WaitingAlert(uuid.uuid4(), point(0), lift, NOW, slots=2)
    cgs = (caregiver(point(300)), caregiver(point(500)), caregiver(point(2000)))
    [decision] = assign(MatchSnapshot(NOW, (a,), cgs), TRAVEL)
    assert {o.caregiver_id for o in decision.chosen} == {cgs[0].caregiver_id, cgs[1].caregiver_id}
    assert "second caregiver" in decision.reason
    [short] = assign(MatchSnapshot(NOW, (a,), cgs[:1]), TRAVEL)
    assert [o.caregiver_id for o in short.chosen] == [cgs[0].caregiver_id]


@pytest.mark.parametrize(
    ("caregivers", "excluded", "raised_s_ago", "expected"),
    [
        ((), False, 0, Escalation.NO_SKILL_ON_SHIFT),
        ((("basic_care",), False), False, 0, Escalation.NO_SKILL_ON_SHIFT),
        ((("first_aid",), True), False, 0, Escalation.ALL_BUSY),
        ((("first_aid",), False), True, 0, Escalation.NO_ANSWER),
        ((("first_aid",), False), False, 590, Escalation.TOO_FAR),
    ],
    ids=["nobody", "no-skill", "busy", "declined", "late"],
)
def test_escalation_gives_the_reason(
    caregivers: tuple[object, ...], excluded: bool, raised_s_ago: int, expected: Escalation
) -> None:
    cgs = ()
    if caregivers:
        skills, busy = caregivers
        cgs = (
            Candidate(
                uuid.uuid4(),
                point(1500),
                frozenset(skills),
                ALL_DAY,  # type: ignore[arg-type]
                TransportMode.EBIKE,
                busy=busy,
            ),
        )  # type: ignore[arg-type]
    a = WaitingAlert(
        uuid.uuid4(),
        point(0),
        FALL,
        NOW - timedelta(seconds=raised_s_ago),
        excluded=frozenset(c.caregiver_id for c in cgs) if excluded else frozenset(),
    )
    [decision] = assign(MatchSnapshot(NOW, (a,), cgs), TRAVEL)
    assert decision.escalation is expected
    if expected is Escalation.TOO_FAR:  # the best late option is still sent
        assert decision.chosen
        assert decision.chosen[0].late_s > 0
        assert "operators informed" in decision.reason
    else:
        assert decision.chosen == ()


def test_repeated_unanswered_offers_escalate_but_keep_offering() -> None:
    declined = frozenset(uuid.uuid4() for _ in range(3))
    a = alert(point(0), excluded=declined)
    [decision] = assign(MatchSnapshot(NOW, (a,), (caregiver(point(300)),)), TRAVEL)
    assert decision.chosen
    assert decision.escalation is Escalation.NO_ANSWER


def test_each_option_carries_its_own_distance_to_that_alert() -> None:
    # One caregiver is a candidate for two alerts; the order for each must say
    # how far that alert is, not the other one.
    here, there = alert(point(0)), alert(point(2000))
    shared, other = caregiver(point(500)), caregiver(point(2100))
    snapshot = MatchSnapshot(NOW, (here, there), (shared, other))
    for a, opts in zip(snapshot.alerts, options(snapshot, TRAVEL), strict=True):
        for o in opts:
            cg = next(c for c in snapshot.caregivers if c.caregiver_id == o.caregiver_id)
            assert o.distance_m == pytest.approx(great_circle_m(cg.position, a.position))
    decisions = assign(snapshot, TRAVEL)
    assert [d.chosen[0].distance_m for d in decisions] == pytest.approx([500, 100], rel=0.01)
