"""The simulated day: call rates that follow the clock (pure)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pydantic import ValidationError

from simulators.scenario import DayProfile, Scenario
from simulators.schedule import call_times, rate_factor

NIGHT_AND_DAY = [0.0] * 6 + [1.0] * 6 + [3.0] * 6 + [0.0] * 6


def scenario(**overrides: Any) -> Scenario:
    base: dict[str, Any] = {"name": "t", "duration_s": 2400, "devices": 10, "help_per_hour": 3600}
    return Scenario.model_validate(base | overrides)


def test_a_flat_rate_gives_the_expected_number_of_calls() -> None:
    times = list(call_times(scenario(), random.Random(1)))
    # 3,600 an hour for 40 minutes: 2,400 expected; Poisson sd ~49.
    assert 2400 - 200 < len(times) < 2400 + 200
    assert times == sorted(times)
    assert all(0 < t < 2400 for t in times)


def test_calls_follow_the_hours_of_the_day() -> None:
    day = scenario(day={"weights": NIGHT_AND_DAY})
    times = list(call_times(day, random.Random(2)))
    quarter = 2400 / 4  # each quarter of the run stands for six hours
    by_quarter = [sum(q * quarter <= t < (q + 1) * quarter for t in times) for q in range(4)]
    assert by_quarter[0] == 0
    assert by_quarter[3] == 0
    # The afternoon weighs three times the morning.
    assert 2.4 < by_quarter[2] / by_quarter[1] < 3.6
    # The profile moves calls between hours; the mean rate stays the scenario's.
    assert 2400 - 200 < len(times) < 2400 + 200


def test_a_run_may_stand_for_part_of_a_day_across_midnight() -> None:
    profile = DayProfile(starts_at_hour=22, hours=4, weights=[1.0] * 2 + [0.0] * 20 + [3.0] * 2)
    assert profile.hour_at(0.0) == 22
    assert profile.hour_at(0.75) == 1
    assert profile.mean_weight == pytest.approx(2.0)
    night = scenario(day=profile.model_dump())
    assert rate_factor(night, 100) == pytest.approx(1.5)  # 22:00-24:00
    assert rate_factor(night, 2000) == pytest.approx(0.5)  # after midnight


@pytest.mark.parametrize(
    "weights", [[0.0] * 24, [1.0] * 23, [-1.0] + [1.0] * 23], ids=["all-zero", "23", "negative"]
)
def test_a_bad_profile_is_refused(weights: list[float]) -> None:
    with pytest.raises(ValidationError):
        scenario(day={"weights": weights})
