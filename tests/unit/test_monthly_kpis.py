"""The monthly report's KPI arithmetic (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.domain.monthly_kpis import (
    AlertFact,
    AnswerStep,
    MonthFacts,
    Outage,
    availability,
    first_answer,
    kpis,
    previous_months,
)

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


def test_an_answer_is_the_boards_rule() -> None:
    acked = AnswerStep(T0 + timedelta(seconds=40), "acknowledged", "alert", "acknowledged")
    accepted = AnswerStep(T0 + timedelta(seconds=20), None, "order", "accepted")
    call = AnswerStep(T0 + timedelta(seconds=90), "call_answered", "alert", "acknowledged")
    # A device that cannot talk: the first acknowledgement or caregiver's accept.
    assert first_answer([acked, accepted, call], device_talks=False) == accepted.at
    # One that talks: only a connected call answers it.
    assert first_answer([acked, accepted, call], device_talks=True) == call.at
    assert first_answer([acked], device_talks=True) is None
    assert first_answer([], device_talks=False) is None


def test_device_availability_counts_outage_time_inside_the_month() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 12, 1, tzinfo=UTC)  # 30 days
    day = timedelta(days=1)
    outages = [
        Outage(start - 2 * day, start + day),  # began in October: one day counts
        Outage(start + 10 * day, start + 12 * day),  # two days
        Outage(end - day, None),  # still offline: the last day
    ]
    # 4 device-days down of 10 devices x 30 days.
    assert availability(10, outages, start, end) == round(1 - 4 / 300, 4)
    assert availability(10, [], start, end) == 1.0
    assert availability(0, outages, start, end) is None
    assert availability(10, outages, start, start) is None  # a month not begun


def test_device_availability_and_the_circle_pass_through() -> None:
    k = kpis(MonthFacts("2026-11", (), (), 0, 0, device_availability=0.98, within_15_min=0.9))
    assert (k["device_availability"], k["within_15_min"]) == (0.98, 0.9)
