"""The monthly report's KPI arithmetic (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.domain.monthly_kpis import AlertFact, MonthFacts, kpis, previous_months

T0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


def _alert(answer_s: float | None, code: str | None, sent: bool, reached: bool) -> AlertFact:
    acked = T0 + timedelta(seconds=answer_s) if answer_s is not None else None
    return AlertFact(T0, acked, code, sent, reached)


def test_shares_of_the_month() -> None:
    facts = MonthFacts(
        month="2026-11",
        alerts=(
            _alert(30, "real_emergency", sent=True, reached=True),
            _alert(60, "fall_no_injury", sent=True, reached=False),  # 60 s is within
            _alert(61, "accidental_press", sent=False, reached=False),
            _alert(None, None, sent=False, reached=False),  # open, nobody answered
            _alert(5, "test", sent=False, reached=False),  # not an alarm: left out
        ),
        ratings=(5, 4, 3),
        visit_elders=8,
        visit_elders_visited=6,
    )
    k = kpis(facts)
    assert k["alerts"] == 4
    assert k["answered_within_60s"] == 0.5
    assert (k["caregiver_sent"], k["reached_by_deadline"]) == (2, 0.5)
    assert k["closed"] == 3
    assert k["closed_by_code"] == {"accidental_press": 1, "fall_no_injury": 1, "real_emergency": 1}
    assert k["false_alarm_rate"] == 0.3333
    assert k["visit_coverage"] == 0.75
    assert (k["follow_ups_rated"], k["satisfaction_mean"]) == (3, 4.0)


def test_a_quiet_month_has_no_shares_rather_than_zero() -> None:
    k = kpis(MonthFacts("2026-10", (), (), 0, 0))
    assert k["alerts"] == 0
    for key in ("answered_within_60s", "reached_by_deadline", "false_alarm_rate",
                "visit_coverage", "satisfaction_mean"):  # fmt: skip
        assert k[key] is None, key


def test_previous_months_cross_the_year() -> None:
    assert previous_months("2026-02", 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert previous_months("2026-11", 1) == ["2026-11"]
