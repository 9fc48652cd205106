"""Planned home services on a real database (SQLite and PostgreSQL): requests,
monthly coverage across a month boundary, and re-planning after a diversion."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from config.settings import Settings
from dispatch.domain.lifecycle import AlertState, OrderState, RequestState, VisitState
from dispatch.domain.model import GeoPoint
from dispatch.emergency.orders import CaregiverAction, act_on_order
from dispatch.errors import IllegalTransition
from dispatch.homecare import requests, visits
from dispatch.homecare.menu import load_menu
from dispatch.homecare.planner import plan_day, schedule_day
from dispatch.homecare.reports import coverage_report
from dispatch.matching.travel import DetourTravelModel
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Caregiver, Elder, Order, Visit
from tests.helpers import CENTER

TZ = ZoneInfo("Asia/Shanghai")
MENU = load_menu(Settings().services_file)
MONDAY = date(2026, 12, 7)


def _elder(db: Database, n: int, *, regular: bool = False, level: int = 2) -> Elder:
    elder = Elder(
        name=f"老人{n}",
        address=f"和平里{n}号",
        lat=CENTER[0] + 0.004 * (n % 5),
        lon=CENTER[1] + 0.004 * (n // 5),
        district="东城区",
        care_level=level,
        regular_visits=regular,
    )
    with db.session() as session:
        session.add(elder)
    return elder


def _caregiver(db: Database, name: str, *, dlat: float = 0.0) -> Caregiver:
    caregiver = Caregiver(
        name=name,
        skills=["basic_care"],
        shift_start=time(8, 0),
        shift_end=time(17, 0),
        home_lat=CENTER[0] + dlat,
        home_lon=CENTER[1],
        provider="东城居家养老服务中心",
    )
    with db.session() as session:
        session.add(caregiver)
    return caregiver


def _request(db: Database, elder: Elder, item: str, **kw: object) -> uuid.UUID:
    new = requests.NewRequest(
        elder_id=elder.id,
        item=item,
        source="family",
        requested_by="女儿 王丽",
        first_day=kw.pop("first_day", MONDAY),  # type: ignore[arg-type]
        window_start=kw.pop("window_start", time(9, 0)),  # type: ignore[arg-type]
        window_end=kw.pop("window_end", time(11, 0)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )
    return requests.create(db, MENU, new, at=datetime.now(UTC)).id


def _day_visits(db: Database, day: date) -> list[Visit]:
    with db.session() as session:
        return list(session.exec(select(Visit).where(Visit.day == day)))


def test_a_recurring_request_yields_visits_once_approved(db: Database) -> None:
    elder = _elder(db, 1)
    request_id = _request(db, elder, "meal_assist", weekdays=frozenset({1, 3, 5}))
    with db.session() as session:
        assert schedule_day(session, MENU, MONDAY, TZ) == 0  # not approved yet
    with pytest.raises(ValueError, match="reason"):
        requests.decide(
            db, request_id, RequestState.REFUSED, by="s", reason=" ", at=datetime.now(UTC)
        )
    requests.decide(
        db, request_id, RequestState.APPROVED, by="assessor", reason="", at=datetime.now(UTC)
    )
    with pytest.raises(IllegalTransition):
        requests.decide(
            db, request_id, RequestState.REFUSED, by="s", reason="no", at=datetime.now(UTC)
        )
    for day, expected in [(MONDAY, 1), (MONDAY, 0), (MONDAY + timedelta(days=1), 0)]:
        with db.session() as session:
            assert schedule_day(session, MENU, day, TZ) == expected
    (visit,) = _day_visits(db, MONDAY)
    assert visit.window_start == datetime(2026, 12, 7, 9, 0, tzinfo=TZ)
    assert visit.state is VisitState.SCHEDULED
    # Cancelling the request cancels what is not yet begun.
    requests.decide(
        db, request_id, RequestState.CANCELLED, by="op", reason="moved away", at=datetime.now(UTC)
    )
    assert _day_visits(db, MONDAY)[0].state is VisitState.CANCELLED
    with pytest.raises(KeyError):
        _request(db, elder, "massage")


def _done(db: Database, elder: Elder, day: date, caregiver: Caregiver) -> None:
    with db.session() as session:
        session.add(
            Visit(
                elder_id=elder.id,
                service="welfare_visit",
                day=day,
                window_start=datetime.combine(day, time(9), tzinfo=TZ),
                window_end=datetime.combine(day, time(17), tzinfo=TZ),
                state=VisitState.DONE,
                caregiver_id=caregiver.id,
            )
        )


def test_monthly_coverage_across_a_month_boundary(db: Database) -> None:
    caregiver = _caregiver(db, "李桂兰")
    a, b, c = (_elder(db, n, regular=True) for n in (1, 2, 3))
    _elder(db, 4)  # not flagged: never visited by the rule
    _done(db, a, date(2026, 11, 3), caregiver)
    _done(db, b, date(2026, 10, 20), caregiver)

    with db.session() as session:
        mid = coverage_report(session, MENU, date(2026, 11, 25))
    assert (mid.coverage.flagged, len(mid.coverage.visited), mid.coverage.percent) == (3, 1, 33.3)
    assert {e["id"] for e in mid.at_risk} == {str(b.id), str(c.id)}  # 6 days left, none planned

    # The last day of November: everyone still unvisited gets a visit today.
    with db.session() as session:
        assert schedule_day(session, MENU, date(2026, 11, 30), TZ) == 2
        late = coverage_report(session, MENU, date(2026, 11, 30))
    assert late.at_risk == []
    assert len(late.coverage.scheduled) == 2
    assert {v.elder_id for v in _day_visits(db, date(2026, 11, 30))} == {b.id, c.id}

    # December starts from nothing: a visit in November does not cover December.
    with db.session() as session:
        december = coverage_report(session, MENU, date(2026, 12, 1))
        assert december.coverage.percent == 0.0
        assert december.at_risk == []
        assert schedule_day(session, MENU, date(2026, 12, 1), TZ) == 1  # 3 elders, 31 days
    (first,) = _day_visits(db, date(2026, 12, 1))
    assert first.elder_id in {b.id, c.id}  # never or longest unvisited first, not A
    assert first.service == MENU.regular_item

    # That visit done, the others are at risk in the last week of December.
    with db.session() as session:
        row = session.get(Visit, first.id)
        assert row is not None
        row.state = VisitState.DONE
        session.add(row)
    with db.session() as session:
        end = coverage_report(session, MENU, date(2026, 12, 27))
    assert end.coverage.percent == 33.3
    assert len(end.at_risk) == 2
    assert first.elder_id not in {uuid.UUID(e["id"]) for e in end.at_risk}


def _offer(db: Database, caregiver: Caregiver, at: datetime) -> uuid.UUID:
    alert = Alert(
        device_id=None,
        alert_type="help_button",
        severity="high",
        raised_at=at,
        deadline_at=at + timedelta(minutes=15),
        device_ts=at,
        updated_at=at,
        lat=CENTER[0] + 0.03,
        lon=CENTER[1],
        state=AlertState.OFFERED,
        claimed_until=at + timedelta(days=1),
    )
    with db.session() as session:
        session.add(alert)
        session.flush()
        order = Order(
            alert_id=alert.id,
            caregiver_id=caregiver.id,
            state=OrderState.OFFERED,
            offered_at=at,
            expires_at=at + timedelta(minutes=1),
            updated_at=at,
            eta_s=300,
            distance_m=1000,
        )
        session.add(order)
    return order.id


def test_an_emergency_diversion_replans_the_rest_of_the_day(db: Database) -> None:
    travel = DetourTravelModel()
    li, zhang = _caregiver(db, "李桂兰"), _caregiver(db, "张建国", dlat=0.01)
    elders = [_elder(db, n) for n in range(6)]
    for i, elder in enumerate(elders):
        start = time(9 + i, 0)
        _request(db, elder, "meal_assist", window_start=start, window_end=time(10 + i, 30))
        with db.session() as session:
            request = session.exec(
                select(requests.ServiceRequest).where(requests.ServiceRequest.elder_id == elder.id)
            ).one()
        requests.decide(
            db, request.id, RequestState.APPROVED, by="a", reason="", at=datetime.now(UTC)
        )

    first = plan_day(db, MENU, travel, MONDAY, TZ, time_limit_s=1)
    assert first.planned == 6
    assert first.unplanned == ()
    day = {v.id: v for v in _day_visits(db, MONDAY)}
    assert all(v.state is VisitState.PLANNED for v in day.values())
    # Li does her first visit, then starts the second and is called away.
    mine = sorted(
        (v for v in day.values() if v.caregiver_id == li.id), key=lambda v: v.planned_start or 0
    )
    assert len(mine) >= 2, "the plan spreads visits between both caregivers"
    done, interrupted = mine[0], mine[1]
    assert done.planned_start is not None
    assert interrupted.planned_start is not None
    for visit, finish in ((done, True), (interrupted, False)):
        elder = next(e for e in elders if e.id == visit.elder_id)
        visits.start(
            db,
            MENU,
            li.id,
            visit.id,
            GeoPoint(elder.lat, elder.lon),
            at=visit.planned_start or datetime.now(UTC),
        )
        if finish:
            visits.finish(
                db,
                MENU,
                li.id,
                visit.id,
                "",
                at=(visit.planned_start or datetime.now(UTC)) + timedelta(minutes=40),
            )
    called_at = interrupted.planned_start + timedelta(minutes=10)
    order_id = _offer(db, li, called_at)
    act_on_order(db, li.id, order_id, CaregiverAction.ACCEPT, at=called_at)
    assert any(v.needs_replan for v in _day_visits(db, MONDAY))

    again = plan_day(db, MENU, travel, MONDAY, TZ, now=called_at, time_limit_s=1)
    after = {v.id: v for v in _day_visits(db, MONDAY)}
    assert li.id in again.changed
    assert not any(v.needs_replan for v in after.values())
    # What was done stays as it was; nothing is planned before the call.
    assert after[done.id].state is VisitState.DONE
    assert after[done.id].caregiver_id == li.id
    back = after[interrupted.id]
    assert back.state in (VisitState.PLANNED, VisitState.SCHEDULED)
    assert back.started_at is None
    for v in after.values():
        if v.state is VisitState.PLANNED:
            assert v.planned_start is not None
            assert v.planned_start >= called_at
            if v.caregiver_id == li.id:  # busy with the emergency for an hour
                assert v.planned_start >= called_at + timedelta(seconds=MENU.diversion_s)
    if back.state is VisitState.PLANNED:
        assert back.caregiver_id == zhang.id or back.planned_start >= called_at + timedelta(hours=1)
