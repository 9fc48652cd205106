"""Operators' work arithmetic and the spreadsheet cells (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch.api.export import cell, to_csv
from dispatch.domain.operator_work import Acknowledgement, month_bounds, summarise

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
