"""The 15-minute service circle and the what-if count (pure)."""

from __future__ import annotations

import math

import pytest

from dispatch.domain.model import GeoPoint, TransportMode
from dispatch.domain.service_circle import (
    CIRCLE_S,
    Responder,
    caregivers_needed,
    responders_reaching,
    service_circle,
)
from dispatch.matching.travel import DetourTravelModel

TRAVEL = DetourTravelModel()  # 1.35 detour, 60 s to set off
BASE = GeoPoint(39.9, 116.4)
M_PER_DEG_LAT = 6_371_008.8 * math.pi / 180


def north(metres: float, of: GeoPoint = BASE) -> GeoPoint:
    return GeoPoint(of.lat + metres / M_PER_DEG_LAT, of.lon)


def test_elders_within_fifteen_minutes_by_the_travel_model() -> None:
    elders = [("near", north(1000)), ("edge", north(3000)), ("far", north(8000))]
    # By e-bike: 60 + 1000 x 1.35 / 5.5 = 305 s; 3 km: 796 s; 8 km: 2,024 s.
    circle = service_circle(elders, [Responder(BASE, TransportMode.EBIKE)], TRAVEL)
    assert circle.fastest_s["near"] == pytest.approx(305.5, abs=0.2)
    assert circle.within == {"near", "edge"}
    assert circle.share == 0.6667


def test_the_fastest_responder_counts_whatever_their_mode() -> None:
    elders = [("a", north(1000))]
    walker = Responder(north(1000), TransportMode.WALK)  # at the door: 60 s
    rider = Responder(BASE, TransportMode.EBIKE)
    circle = service_circle(elders, [rider, walker], TRAVEL)
    assert circle.fastest_s["a"] == pytest.approx(60.0)


def test_nobody_on_shift_reaches_nobody_and_no_elders_has_no_share() -> None:
    circle = service_circle([("a", BASE)], [], TRAVEL)
    assert circle.fastest_s == {"a": None}
    assert circle.share == 0.0
    assert service_circle([], [Responder(BASE, TransportMode.WALK)], TRAVEL).share is None


def test_large_batches_give_the_same_answer_as_small_ones() -> None:
    elders = [(i, north(50.0 * i)) for i in range(1200)]
    responders = [Responder(north(1000.0 * j), TransportMode.WALK) for j in range(600)]
    circle = service_circle(elders, responders, TRAVEL)  # 720,000 pairs: two blocks
    one_by_one = {
        k: service_circle([(k, p)], responders, TRAVEL).fastest_s[k] for k, p in elders[::97]
    }
    assert {k: circle.fastest_s[k] for k in one_by_one} == one_by_one


def test_caregivers_needed_for_the_target_share() -> None:
    # Two clusters of elders 10 km apart: one walker covers each cluster.
    west = [north(100.0 * i) for i in range(10)]
    east = [north(100.0 * i, GeoPoint(39.9, 116.52)) for i in range(10)]
    sites = west + east
    walk = TransportMode.WALK
    assert caregivers_needed(west + east, sites, walk, TRAVEL, target_share=0.5) == 1
    assert caregivers_needed(west + east, sites, walk, TRAVEL, target_share=0.95) == 2
    # One already on shift in the west: one more is needed, two in all.
    already = [Responder(west[0], walk)]
    assert caregivers_needed(west + east, sites, walk, TRAVEL, already=already) == 2


def test_caregivers_needed_answers_none_when_no_site_reaches_enough() -> None:
    elders = [BASE, north(20_000)]
    assert caregivers_needed(elders, [BASE], TransportMode.WALK, TRAVEL) is None
    assert caregivers_needed([], [BASE], TransportMode.WALK, TRAVEL) == 0
    with pytest.raises(ValueError, match="target_share"):
        caregivers_needed(elders, [BASE], TransportMode.WALK, TRAVEL, target_share=0)


def test_responders_reaching_a_street() -> None:
    street = [north(0), north(200)]
    near = Responder(north(1000), TransportMode.EBIKE)  # 305 s to the nearer elder
    far = Responder(north(20_000), TransportMode.CAR)  # 60 + 27,000 / 7 s: too far
    walker = Responder(north(400), TransportMode.WALK)  # 60 + 270 / 1.3 = 268 s
    assert responders_reaching(street, [near, far, walker], TRAVEL) == 2
    assert responders_reaching([], [near], TRAVEL) == 0


def _within(elders: list[GeoPoint], responders: list[Responder]) -> list[bool]:
    circle = service_circle(list(enumerate(elders)), responders, TRAVEL)
    return [i in circle.within for i in range(len(elders))]


def test_the_circle_follows_each_mode_and_counts_an_elder_once_whoever_reaches_them() -> None:
    # An e-bike (5.5 m/s) covers about 3,470 m of straight line in 15 minutes; on
    # foot (1.3 m/s) about 820 m.
    ebike_m = (CIRCLE_S - TRAVEL.setoff_s) * 5.5 / TRAVEL.detour_factor
    elders = [north(500), north(ebike_m - 50), north(ebike_m + 50)]
    assert _within(elders, [Responder(BASE, TransportMode.EBIKE)]) == [True, True, False]
    walker = Responder(BASE, TransportMode.WALK)
    assert _within(elders, [walker]) == [True, False, False]
    far = Responder(north(ebike_m + 50), TransportMode.WALK)
    assert service_circle(list(enumerate(elders)), [far], TRAVEL).share == 0.6667
    assert service_circle(list(enumerate(elders)), [walker, far], TRAVEL).share == 1.0


def test_no_elder_is_no_share_and_no_caregiver_reaches_nobody() -> None:
    assert service_circle([], [Responder(BASE, TransportMode.CAR)], TRAVEL).share is None
    assert service_circle([("a", north(10))], [], TRAVEL).share == 0.0


def test_many_elders_are_compared_in_blocks() -> None:
    elders = [north(i * 2.0) for i in range(5000)]  # 0 m to 10 km north
    ebike_m = (CIRCLE_S - TRAVEL.setoff_s) * 5.5 / TRAVEL.detour_factor
    near = _within(elders, [Responder(BASE, TransportMode.EBIKE)])
    assert sum(near) == sum(1 for i in range(5000) if i * 2.0 <= ebike_m)
