"""The 15-minute service circle (pure), with the travel model the matcher uses."""

from __future__ import annotations

from dispatch.domain.model import TransportMode
from dispatch.domain.reach import CIRCLE_S, Base, reachable, share_within
from dispatch.matching.travel import DetourTravelModel

TRAVEL = DetourTravelModel()
# One degree of latitude is about 111.2 km.
M_PER_DEG = 111_195.0


def _north(metres: float) -> tuple[float, float]:
    return (39.9 + metres / M_PER_DEG, 116.4)


def test_the_circle_follows_the_travel_model() -> None:
    # An e-bike (5.5 m/s, detour 1.35, 60 s to set off) covers about 3,470 m of
    # straight line in 15 minutes; on foot (1.3 m/s) about 820 m.
    ebike_m = (CIRCLE_S - TRAVEL.setoff_s) * 5.5 / TRAVEL.detour_factor
    elders = [_north(500), _north(ebike_m - 50), _north(ebike_m + 50)]
    station = Base(39.9, 116.4, TransportMode.EBIKE)
    assert reachable(elders, [station], TRAVEL.travel_times_s) == [True, True, False]
    walker = Base(39.9, 116.4, TransportMode.WALK)
    assert reachable(elders, [walker], TRAVEL.travel_times_s) == [True, False, False]
    # A walker up north reaches the two far elders; with the one at the start,
    # everyone, each elder counted once whoever reaches them.
    far = Base(*_north(ebike_m + 50), TransportMode.WALK)
    assert share_within(elders, [far], TRAVEL.travel_times_s) == 0.6667
    assert share_within(elders, [walker, far], TRAVEL.travel_times_s) == 1.0


def test_no_elder_is_no_share_and_no_caregiver_reaches_nobody() -> None:
    assert share_within([], [Base(39.9, 116.4, TransportMode.CAR)], TRAVEL.travel_times_s) is None
    assert share_within([_north(10)], [], TRAVEL.travel_times_s) == 0.0


def test_many_elders_are_compared_in_chunks() -> None:
    elders = [_north(i * 2.0) for i in range(5000)]  # 0 m to 10 km north
    near = reachable(elders, [Base(39.9, 116.4, TransportMode.EBIKE)], TRAVEL.travel_times_s)
    ebike_m = (CIRCLE_S - TRAVEL.setoff_s) * 5.5 / TRAVEL.detour_factor
    assert sum(near) == sum(1 for i in range(5000) if i * 2.0 <= ebike_m)
