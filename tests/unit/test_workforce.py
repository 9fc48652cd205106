"""Caregivers' working days: expiring certificates, weekly patterns, leave."""

from __future__ import annotations

from datetime import date, time

import pytest

from dispatch.domain.workforce import working_day

DAILY = (time(8), time(20))
TUESDAY = date(2026, 12, 1)


def test_an_expired_certificate_takes_its_skill_out_of_matching() -> None:
    certificates = [{"skill": "first_aid", "name": "红十字救护员证", "expires_on": "2026-11-30"}]
    day = working_day(["basic_care", "first_aid"], certificates, DAILY, {}, [], TUESDAY)
    assert day.skills == {"basic_care"}  # basic care needs no certificate
    before = working_day(
        ["basic_care", "first_aid"], certificates, DAILY, {}, [], date(2026, 11, 30)
    )
    assert before.skills == {"basic_care", "first_aid"}  # valid through its last day


def test_a_renewed_certificate_keeps_the_skill() -> None:
    certificates = [
        {"skill": "first_aid", "expires_on": "2026-11-30"},
        {"skill": "first_aid", "expires_on": "2028-11-30"},
    ]
    assert working_day(["first_aid"], certificates, DAILY, {}, [], TUESDAY).skills == {"first_aid"}


def test_the_weekly_pattern_and_leave_decide_the_shift() -> None:
    weekly = {"2": ["09:00", "17:00"], "4": ["13:00", "21:00"]}
    assert working_day([], [], DAILY, weekly, [], TUESDAY).shift == (time(9), time(17))
    assert working_day([], [], DAILY, weekly, [], date(2026, 12, 2)).shift is None  # Wednesday
    assert working_day([], [], DAILY, {}, [], TUESDAY).shift == DAILY
    assert working_day([], [], DAILY, weekly, ["2026-12-01"], TUESDAY).shift is None


def test_a_bad_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="weekday"):
        working_day([], [], DAILY, {"8": ["09:00", "17:00"]}, [], TUESDAY)
    with pytest.raises(ValueError, match="same time"):
        working_day([], [], DAILY, {"1": ["09:00", "09:00"]}, [], TUESDAY)
