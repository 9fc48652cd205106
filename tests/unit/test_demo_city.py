"""The demo city's planned services (pure: generated, not stored)."""

from __future__ import annotations

from datetime import time

from simulators.city import generate_city


def test_the_demo_citys_home_visits_fall_within_visiting_hours() -> None:
    city = generate_city(seed=7, n_elders=100, n_caregivers=24)
    assert city.service_requests, "the demo plans home services"
    night_shift = [c for c in city.caregivers if c.shift_end < c.shift_start]
    assert night_shift, "the demo has night shifts: the case that went wrong"
    for request in city.service_requests:
        assert time(8, 0) <= request.window_start < request.window_end <= time(21, 0), request
