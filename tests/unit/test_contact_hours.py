"""When a contact may be told (dispatch/domain/contact_hours.py)."""

from __future__ import annotations

from datetime import time

from dispatch.domain.contact_hours import reachable


def test_daytime_hours_include_their_start_and_exclude_their_end() -> None:
    assert reachable("08:00-22:00", time(8, 0))
    assert reachable("08:00-22:00", time(21, 59))
    assert not reachable("08:00-22:00", time(22, 0))
    assert not reachable("08:00-22:00", time(3, 0))


def test_night_hours_run_past_midnight() -> None:
    assert reachable("22:00-06:00", time(23, 30))
    assert reachable("22:00-06:00", time(2, 0))
    assert not reachable("22:00-06:00", time(12, 0))


def test_no_hours_or_hours_that_cannot_be_read_mean_any_time() -> None:
    assert reachable("", time(3, 0))
    assert reachable("08:00-08:00", time(3, 0))
    assert reachable("mornings", time(3, 0))
