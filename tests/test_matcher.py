"""The matcher as a pure function: snapshot in, decisions out."""

from __future__ import annotations

import random
import uuid
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
    FreeCaregiver,
    MatchSnapshot,
    WaitingAlert,
    _cost,
    _options,
    assign,
)
from dispatch.matching.travel import DetourTravelModel

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
) -> FreeCaregiver:
    return FreeCaregiver(uuid.uuid4(), at, frozenset(skills), shift, mode)


def test_nearest_qualified_caregiver_wins() -> None:
    a = alert(point(0))
    near, far = caregiver(point(300)), caregiver(point(3000))
    [decision] = assign(MatchSnapshot(NOW, (a,), (far, near)), TRAVEL)
    assert decision.chosen is not None
    assert decision.chosen.caregiver_id == near.caregiver_id
    assert [o.caregiver_id for o in decision.considered] == [near.caregiver_id, far.caregiver_id]
    assert decision.reason.startswith("fastest qualified caregiver")


def test_caregiver_without_the_skill_is_never_chosen() -> None:
    a = alert(point(0), FALL)
    untrained, first_aider = (
        caregiver(point(100)),
        caregiver(point(4000), ("basic_care", "first_aid")),
    )
    [decision] = assign(MatchSnapshot(NOW, (a,), (untrained, first_aider)), TRAVEL)
    assert decision.chosen is not None
    assert decision.chosen.caregiver_id == first_aider.caregiver_id


def test_no_one_with_the_skill_leaves_the_alert_unassigned_with_the_reason() -> None:
    [decision] = assign(
        MatchSnapshot(NOW, (alert(point(0), FALL),), (caregiver(point(50)),)), TRAVEL
    )
    assert decision.chosen is None
    assert decision.reason == "no free caregiver with skill 'first_aid' on shift"


def test_shift_must_cover_the_expected_arrival() -> None:
    a = alert(point(0))
    # Ends at 10:02: travelling 3 km by e-bike takes longer than two minutes.
    ending = caregiver(point(3000), shift=Shift(time(6, 0), time(10, 2)))
    overnight = caregiver(point(5000), shift=Shift(time(22, 0), time(10, 30)))
    [decision] = assign(MatchSnapshot(NOW, (a,), (ending, overnight)), TRAVEL)
    assert decision.chosen is not None
    assert decision.chosen.caregiver_id == overnight.caregiver_id


def test_caregiver_who_already_declined_is_not_offered_again() -> None:
    near, far = caregiver(point(100)), caregiver(point(2000))
    a = alert(point(0), excluded=frozenset({near.caregiver_id}))
    [decision] = assign(MatchSnapshot(NOW, (a,), (near, far)), TRAVEL)
    assert decision.chosen is not None
    assert decision.chosen.caregiver_id == far.caregiver_id


def test_batch_assignment_beats_nearest_first() -> None:
    # A first-aider stands between a bell press and a fall; a basic caregiver is
    # a little further from the press. Nearest-first gives the first-aider to the
    # press and leaves the fall without anyone qualified; the joint solve does not.
    press, fall = alert(point(0), PRESS), alert(point(1200), FALL)
    first_aider = caregiver(point(400), ("basic_care", "first_aid"))
    basic = caregiver(point(-500))
    decisions = assign(MatchSnapshot(NOW, (press, fall), (first_aider, basic)), TRAVEL)
    chosen = {d.alert_id: d.chosen.caregiver_id for d in decisions if d.chosen}
    assert chosen == {press.alert_id: basic.caregiver_id, fall.alert_id: first_aider.caregiver_id}
    assert "joint optimum" in decisions[0].reason


def test_each_caregiver_takes_at_most_one_alert() -> None:
    alerts = tuple(alert(point(i * 10)) for i in range(3))
    only = caregiver(point(0))
    decisions = assign(MatchSnapshot(NOW, alerts, (only,)), TRAVEL)
    assert sum(d.chosen is not None for d in decisions) == 1
    left = [d for d in decisions if d.chosen is None]
    assert all("needed for a more urgent or closer alert" in d.reason for d in left)


def test_lateness_weighs_more_than_travel_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # X has 250 s left; only P reaches it in time. Pure travel time would send P
    # to the nearer Y and Q late to X; the lateness penalty keeps X on time.
    x = WaitingAlert(uuid.uuid4(), point(0), PRESS, NOW - timedelta(seconds=650))
    y = alert(point(896))
    p, q = caregiver(point(733)), caregiver(point(448, 869))
    snapshot = MatchSnapshot(NOW, (x, y), (p, q))

    def chosen() -> dict[uuid.UUID, uuid.UUID]:
        return {d.alert_id: d.chosen.caregiver_id for d in assign(snapshot, TRAVEL) if d.chosen}

    assert chosen() == {x.alert_id: p.caregiver_id, y.alert_id: q.caregiver_id}
    monkeypatch.setattr("dispatch.matching.matcher.LATENESS_PENALTY", 0)
    assert chosen() == {x.alert_id: q.caregiver_id, y.alert_id: p.caregiver_id}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_matches_the_exact_optimum_of_scipy(seed: int) -> None:
    rng = random.Random(seed)
    alerts = tuple(
        alert(point(rng.uniform(-4000, 4000), rng.uniform(-4000, 4000)), rng.choice([PRESS, FALL]))
        for _ in range(25)
    )
    cgs = tuple(
        caregiver(
            point(rng.uniform(-4000, 4000), rng.uniform(-4000, 4000)),
            ("basic_care", "first_aid") if rng.random() < 0.4 else ("basic_care",),
        )
        for _ in range(40)
    )
    snapshot = MatchSnapshot(NOW, alerts, cgs)
    decisions = assign(snapshot, TRAVEL)

    # The same cost matrix, with one "unassigned" column per alert.
    big = 10**12
    cost = np.full((len(alerts), len(cgs) + len(alerts)), big, dtype=np.int64)
    index = {c.caregiver_id: j for j, c in enumerate(cgs)}
    for i, a in enumerate(alerts):
        for opt in _options(a, snapshot, TRAVEL):
            cost[i, index[opt.caregiver_id]] = _cost(a, opt)
        cost[i, len(cgs) + i] = a.alert_type.severity.weight * UNASSIGNED_COST_S
    rows, cols = linear_sum_assignment(cost)
    optimum = int(cost[rows, cols].sum())

    ours = 0
    for a, d in zip(alerts, decisions, strict=True):
        ours += _cost(a, d.chosen) if d.chosen else a.alert_type.severity.weight * UNASSIGNED_COST_S
    assert ours == optimum
    chosen = [d.chosen.caregiver_id for d in decisions if d.chosen]
    assert len(chosen) == len(set(chosen))


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
