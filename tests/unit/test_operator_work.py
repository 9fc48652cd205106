"""Operators' work arithmetic and the spreadsheet cells (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.api.export import cell, to_csv
from dispatch.domain.operator_work import (
    Acknowledgement,
    month_bounds,
    shift_of,
    shift_starts,
    summarise,
    summarise_shifts,
)

T0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


def _ack(who: str, answer_s: float, close_s: float | None) -> Acknowledgement:
    acked = T0 + timedelta(seconds=answer_s)
    closed = acked + timedelta(seconds=close_s) if close_s is not None else None
    return Acknowledgement(who, T0, acked, closed)


def test_each_operator_gets_counts_median_and_p90() -> None:
    acks = [_ack("wang", s, 600) for s in (10, 20, 30, 40, 50, 60, 70, 80, 90, 300)]
    acks += [_ack("li", 45, None)]
    work = {w.operator: w for w in summarise(acks)}
    assert list(work) == ["li", "wang"]
    assert work["wang"].acknowledged == 10
    assert work["wang"].answer_median_s == 55
    assert work["wang"].answer_p90_s == 90  # nearest rank: the 9th of 10
    assert work["wang"].ack_to_close_median_s == 600
    assert work["li"].closed == 0
    assert work["li"].ack_to_close_median_s is None


def test_month_is_year_dash_month() -> None:
    assert month_bounds("2026-02") == (2026, 2)
    for bad in ("2026-13", "2026-2", "26-02", "2026/02", "", "2026-00"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_bounds(bad)


def test_cells_people_type_never_become_formulas() -> None:
    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert cell(None) == ""
    assert cell(True) == "yes"
    assert cell(("李桂兰", "张建国")) == "李桂兰; 张建国"
    assert to_csv(["a"], [{"a": "王"}]).decode("utf-8-sig") == "a\r\n王\r\n"


SHANGHAI = ZoneInfo("Asia/Shanghai")
STARTS = shift_starts(["16:00", "08:00", "00:00"])


def test_shift_starts_are_sorted_times_and_bad_ones_refused() -> None:
    assert shift_starts(["16:00", "08:00", "00:00"]) == (time(0), time(8), time(16))
    for bad in ([], ["8 am"], ["08:00", "08:00"], [None]):
        with pytest.raises(ValueError, match="shift starts"):
            shift_starts(bad)  # type: ignore[arg-type]


def test_a_moment_falls_in_its_shift_and_the_small_hours_in_last_nights() -> None:
    at = datetime(2026, 11, 3, 7, 59, tzinfo=SHANGHAI)
    assert shift_of(at, STARTS) == (
        datetime(2026, 11, 3, 0, 0, tzinfo=SHANGHAI),
        datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI),
    )
    assert shift_of(at + timedelta(minutes=1), STARTS)[0] == at + timedelta(minutes=1)
    night = shift_starts(["08:00", "20:00"])
    start, end = shift_of(datetime(2026, 11, 3, 3, 0, tzinfo=SHANGHAI), night)
    assert (start, end) == (
        datetime(2026, 11, 2, 20, 0, tzinfo=SHANGHAI),
        datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI),
    )


def test_work_is_summed_per_shift_by_the_acknowledgement_in_the_centres_zone() -> None:
    def ack(who: str, local_hour: int, answer_s: float) -> Acknowledgement:
        acked = datetime(2026, 11, 3, local_hour, 30, tzinfo=SHANGHAI).astimezone(UTC)
        return Acknowledgement(who, acked - timedelta(seconds=answer_s), acked, None)

    acks = [ack("wang", 9, 20), ack("li", 10, 40), ack("wang", 15, 80), ack("zhao", 17, 10)]
    day, evening = summarise_shifts(acks, SHANGHAI, STARTS)
    assert day.start == datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI)
    assert day.end == datetime(2026, 11, 3, 16, 0, tzinfo=SHANGHAI)
    assert [(w.operator, w.acknowledged, w.answer_median_s) for w in day.operators] == [
        ("li", 1, 40),
        ("wang", 2, 50),
    ]
    assert (day.total.acknowledged, day.total.answer_median_s, day.total.closed) == (3, 40, 0)
    assert [w.operator for w in evening.operators] == ["zhao"]
    assert evening.total.acknowledged == 1
