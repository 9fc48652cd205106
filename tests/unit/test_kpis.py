"""Today's KPIs from alert times (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.domain.kpis import AlertTimes, compute

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def times(answer_s: float | None, arrive_s: float | None, deadline_s: float = 900) -> AlertTimes:
    return AlertTimes(
        uuid.uuid4(),
        T0,
        T0 + timedelta(seconds=deadline_s),
        T0 + timedelta(seconds=answer_s) if answer_s is not None else None,
        T0 + timedelta(seconds=arrive_s) if arrive_s is not None else None,
    )


def test_answer_times_and_the_one_minute_target() -> None:
    rows = [times(10, 600), times(20, 1000), times(30, None), times(90, None), times(None, None)]
    kpis = compute(
        rows,
        now=T0 + timedelta(seconds=1200),
        open_alerts=3,
        caregivers_available=4,
        devices_offline=1,
    )
    assert kpis.answer_p50_s == pytest.approx(25.0)
    assert kpis.answer_p975_s == pytest.approx(90.0)
    assert kpis.answered_within_target == pytest.approx(3 / 4)
    # All five deadlines (900 s) have passed; one caregiver arrived in time.
    assert kpis.reached_within_deadline == pytest.approx(1 / 5)
    assert (kpis.open_alerts, kpis.caregivers_available, kpis.devices_offline) == (3, 4, 1)


def test_an_alert_is_judged_once_reached_or_past_its_deadline() -> None:
    rows = [times(5, 300), times(5, None)]
    kpis = compute(
        rows,
        now=T0 + timedelta(seconds=400),
        open_alerts=1,
        caregivers_available=0,
        devices_offline=0,
    )
    assert kpis.reached_within_deadline == 1.0  # the other one still has time


def test_a_quiet_day_has_no_figures_rather_than_zeros() -> None:
    kpis = compute([], now=T0, open_alerts=0, caregivers_available=2, devices_offline=0)
    assert kpis.answer_p50_s is None
    assert kpis.answered_within_target is None
    assert kpis.reached_within_deadline is None
