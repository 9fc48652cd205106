"""When help calls happen during a run (pure).

Calls arrive as a Poisson process whose rate follows the scenario's day profile;
times are drawn by thinning (Lewis and Shedler): candidates at the peak rate,
each kept with probability rate(t) / peak.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from simulators.scenario import Scenario


def rate_factor(scenario: Scenario, elapsed_s: float) -> float:
    """The call rate at ``elapsed_s`` relative to the run's mean rate."""
    if scenario.day is None:
        return 1.0
    fraction = min(1.0, max(0.0, elapsed_s / scenario.duration_s))
    return scenario.day.weight_at(fraction) / scenario.day.mean_weight


def call_times(scenario: Scenario, rng: random.Random) -> Iterator[float]:
    """Seconds into the run at which elders press for help, in order."""
    if scenario.help_per_hour <= 0:
        return
    peak = 1.0 if scenario.day is None else scenario.day.peak_factor
    peak_rate_s = scenario.help_per_hour * peak / 3600
    t = 0.0
    while True:
        t += rng.expovariate(peak_rate_s)
        if t >= scenario.duration_s:
            return
        if rng.random() * peak <= rate_factor(scenario, t):
            yield t
