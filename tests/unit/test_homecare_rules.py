"""The pure rules of planned home services: recurrence, money, coverage, sampling, the problem."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from config.settings import Settings
from dispatch.domain.model import GeoPoint
from dispatch.homecare.billing import BilledVisit, charge, statement, to_csv
from dispatch.homecare.coverage import coverage, due_today, month_of
from dispatch.homecare.followup import needs_follow_up
from dispatch.homecare.menu import load_menu
from dispatch.homecare.problem import CaregiverDay, VisitToPlan, build_problem
from dispatch.homecare.recurrence import Recurrence
from dispatch.matching.travel import DetourTravelModel
from dispatch.planning.model import TimeWindow

TZ = ZoneInfo("Asia/Shanghai")
MENU = load_menu(Settings().services_file)


def test_menu_from_config_has_every_kind_of_service_and_levels() -> None:
    assert {
        "meal_delivery",
        "cleaning",
        "bathing",
        "medical_escort",
        "company",
        "welfare_visit",
    } <= set(MENU.items)
    assert MENU.item("bathing").workers == 2
    assert MENU.item("company").subsidised is False
    assert MENU.monthly_subsidy_fen(2) == 40000
    assert MENU.monthly_subsidy_fen(99) == 0  # an unknown level gets nothing
    with pytest.raises(KeyError, match="not on the service menu"):
        MENU.item("massage")


def test_recurrence_every_monday_wednesday_friday() -> None:
    rule = Recurrence(date(2026, 11, 30), time(11, 0), time(12, 0), frozenset({1, 3, 5}))
    days = list(rule.days(date(2026, 11, 28), date(2026, 12, 8)))
    assert days == [date(2026, 11, 30), date(2026, 12, 2), date(2026, 12, 4), date(2026, 12, 7)]
    once = Recurrence(date(2026, 12, 3), time(9, 0), time(10, 0))
    assert list(once.days(date(2026, 12, 1), date(2026, 12, 31))) == [date(2026, 12, 3)]
    ended = Recurrence(
        date(2026, 11, 2), time(9, 0), time(10, 0), frozenset({1}), date(2026, 11, 16)
    )
    assert not ended.occurs_on(date(2026, 11, 23))
    with pytest.raises(ValueError, match="ends before"):
        Recurrence(date(2026, 12, 3), time(10, 0), time(9, 0))
    with pytest.raises(ValueError, match="weekdays"):
        Recurrence(date(2026, 12, 3), time(9, 0), time(10, 0), frozenset({0}))


def test_subsidy_pays_until_it_runs_out_then_the_elder_pays() -> None:
    assert charge(6000, subsidised=True, subsidy_left_fen=10000).subsidy_fen == 6000
    split = charge(6000, subsidised=True, subsidy_left_fen=2500)
    assert (split.subsidy_fen, split.self_pay_fen) == (2500, 3500)
    assert charge(6000, subsidised=True, subsidy_left_fen=-100).self_pay_fen == 6000
    assert charge(4000, subsidised=False, subsidy_left_fen=10000).subsidy_fen == 0


def test_statement_sums_per_provider_and_item_and_exports_csv() -> None:
    lines = statement(
        [
            BilledVisit("东城服务站", "cleaning", 90, 6000, 0, satisfaction=5),
            BilledVisit("东城服务站", "cleaning", 80, 2000, 4000, satisfaction=3),
            BilledVisit("东城服务站", "cleaning", 0, 0, 0, exception="nobody_home"),
            BilledVisit("西湖助老", "meal_delivery", 15, 1200, 0),
        ]
    )
    assert [(line.provider, line.item, line.visits) for line in lines] == [
        ("东城服务站", "cleaning", 3),
        ("西湖助老", "meal_delivery", 1),
    ]
    cleaning = lines[0]
    assert cleaning.subsidy_fen == 8000
    assert cleaning.self_pay_fen == 4000
    assert cleaning.exceptions == 1
    assert cleaning.satisfaction == 4.0
    rows = list(csv.DictReader(io.StringIO(to_csv(lines))))
    assert rows[0]["hours"] == "2.83"
    assert rows[0]["subsidy_yuan"] == "80.00"
    assert rows[1]["satisfaction"] == ""


def test_month_bounds_and_coverage_at_risk_only_near_month_end() -> None:
    assert month_of(date(2026, 2, 14)) == (date(2026, 2, 1), date(2026, 2, 28))
    elders = [uuid.uuid4() for _ in range(4)]
    visited, planned = {elders[0]}, {elders[1]}
    early = coverage(date(2026, 11, 10), elders, visited, planned, at_risk_days=7)
    assert early.percent == 25.0
    assert early.at_risk == ()
    late = coverage(date(2026, 11, 26), elders, visited, planned, at_risk_days=7)
    assert set(late.at_risk) == {elders[2], elders[3]}
    assert late.scheduled == (elders[1],)


def test_due_today_spreads_the_unvisited_over_the_days_left_oldest_first() -> None:
    elders = [uuid.uuid4() for _ in range(30)]
    last = {e: date(2026, 10, 1) + timedelta(days=i) for i, e in enumerate(elders)}
    first_day = due_today(date(2026, 11, 1), elders, last)
    assert len(first_day) == 1
    assert first_day == [elders[0]]
    assert len(due_today(date(2026, 11, 30), elders, last)) == 30  # the last day takes all
    # Run daily, everyone is covered by the month's end.
    waiting, covered = list(elders), set()
    for d in range(1, 31):
        today = due_today(date(2026, 11, d), waiting, last)
        covered |= set(today)
        waiting = [e for e in waiting if e not in covered]
    assert covered == set(elders)


def test_follow_up_every_first_visit_and_a_stable_share_of_the_rest() -> None:
    ids = [uuid.uuid4() for _ in range(4000)]
    assert all(needs_follow_up(i, first_of_its_kind=True, share=0.0) for i in ids[:50])
    picked = [i for i in ids if needs_follow_up(i, first_of_its_kind=False, share=0.2)]
    assert 0.17 < len(picked) / len(ids) < 0.23
    assert picked == [i for i in ids if needs_follow_up(i, first_of_its_kind=False, share=0.2)]


def _caregiver(shift: tuple[time, time], **kw: object) -> CaregiverDay:
    return CaregiverDay(
        id=uuid.uuid4(),
        skills=frozenset({"basic_care"}),
        shift_start=shift[0],
        shift_end=shift[1],
        base=GeoPoint(30.27, 120.15),
        **kw,  # type: ignore[arg-type]
    )


def test_problem_uses_local_seconds_shifts_lunch_and_where_a_busy_caregiver_will_be() -> None:
    day = date(2026, 11, 30)
    visit = VisitToPlan(
        id=uuid.uuid4(),
        item="bathing",
        place=GeoPoint(30.28, 120.16),
        window_start=datetime(2026, 11, 30, 9, 0, tzinfo=TZ),
        window_end=datetime(2026, 11, 30, 11, 0, tzinfo=TZ),
    )
    day_shift = _caregiver((time(8, 0), time(17, 0)))
    night = _caregiver((time(19, 0), time(7, 30)))
    busy_until = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)
    busy = _caregiver(
        (time(8, 0), time(17, 0)), free_at=GeoPoint(30.30, 120.10), free_from=busy_until
    )
    problem = build_problem(day, TZ, [visit], [day_shift, night, busy], MENU, DetourTravelModel())
    (stop,) = problem.stops
    assert (stop.window.start, stop.window.end) == (9 * 3600, 11 * 3600)
    assert stop.workers_needed == 2
    assert stop.duration_s == 3600
    w_day, w_night, w_busy = problem.workers
    assert (w_day.shift.start, w_day.shift.end) == (8 * 3600, 17 * 3600)
    assert len(w_day.breaks) == 1
    assert w_day.breaks[0].duration_s == 1800
    assert (w_night.shift.start, w_night.shift.end) == (19 * 3600, 31 * 3600 + 1800)
    assert w_busy.shift.start == 10 * 3600
    assert w_busy.start_location != w_busy.end_location
    # Re-planning at 10:30 UTC+8: nothing starts before now.
    now = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)
    later = build_problem(day, TZ, [visit], [day_shift], MENU, DetourTravelModel(), now=now)
    assert later.stops[0].window.start == 10 * 3600 + 1800
    assert later.workers[0].shift.start == 10 * 3600 + 1800
    travel = later.travel_s
    assert travel[0][0] == 0
    assert travel[0][1] == travel[1][0] > 60


def test_a_visit_whose_window_has_closed_is_not_planned_at_the_hour_of_the_plan() -> None:
    day = date(2026, 11, 30)

    def visit(opens: int, closes: int) -> VisitToPlan:
        return VisitToPlan(
            id=uuid.uuid4(),
            item="cleaning",
            place=GeoPoint(30.28, 120.16),
            window_start=datetime(2026, 11, 30, opens, 0, tzinfo=TZ),
            window_end=datetime(2026, 11, 30, closes, 0, tzinfo=TZ),
        )

    missed, open_now, later = visit(8, 10), visit(10, 12), visit(14, 16)
    night = _caregiver((time(19, 0), time(7, 30)))
    day_shift = _caregiver((time(8, 0), time(17, 0)))
    at_eleven = datetime(2026, 11, 30, 11, 0, tzinfo=TZ)
    problem = build_problem(
        day,
        TZ,
        [missed, open_now, later],
        [night, day_shift],
        MENU,
        DetourTravelModel(),
        now=at_eleven,
    )
    assert [s.id for s in problem.stops] == [str(open_now.id), str(later.id)]
    assert problem.stops[0].window == TimeWindow(11 * 3600, 12 * 3600)
    # Planned ahead (no now), the whole day counts.
    ahead = build_problem(day, TZ, [missed], [day_shift], MENU, DetourTravelModel())
    assert len(ahead.stops) == 1
