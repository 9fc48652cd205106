"""The care bureau's visit history on real databases: filters, scoping by where the
elder lives, paging, the CSV and XLSX exports."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import httpx
from openpyxl import load_workbook

from dispatch.domain.lifecycle import VisitState
from dispatch.store.db import Database
from dispatch.store.tables import Caregiver, Elder, FollowUp, Provider, Visit
from dispatch.store.visit_history import COLUMNS
from tests.conftest import RunningServer
from tests.helpers import CENTER, bearer, login


@dataclass(frozen=True)
class Visits:
    meal: uuid.UUID  # 东城区/和平街道/和平里社区, done by 李桂兰 with 张红 on Nov 3, rated 5
    away: uuid.UUID  # 东城区/安定门街道, done by 李桂兰 on Nov 12, started 450 m off
    nobody: uuid.UUID  # 西城区/月坛街道, missed (nobody home) by 张红 on Nov 20
    december: uuid.UUID  # 东城区/和平街道/和平里社区, scheduled for Dec 2, nobody yet
    li: uuid.UUID
    zhang: uuid.UUID
    provider_id: uuid.UUID  # employs 李桂兰 only


def _elder(name: str, district: str, street: str, community: str = "") -> Elder:
    return Elder(
        name=name,
        address=f"{street}{community}1号",
        lat=CENTER[0],
        lon=CENTER[1],
        district=district,
        street=street,
        community=community,
    )


def _carer(name: str, provider_id: uuid.UUID | None) -> Caregiver:
    return Caregiver(
        name=name,
        provider_id=provider_id,
        skills=["basic_care"],
        shift_start=time(0, 0),
        shift_end=time(23, 59, 59),
        transport="ebike",
        home_lat=CENTER[0],
        home_lon=CENTER[1],
    )


def _visit(
    elder: Elder, day: date, state: VisitState, service: str = "meal_assist", **kw: object
) -> Visit:
    start = datetime.combine(day, time(1, 0), tzinfo=UTC)
    return Visit(
        elder_id=elder.id,
        service=service,
        day=day,
        window_start=start,
        window_end=start + timedelta(hours=2),
        state=state,
        **kw,
    )


def seed_visits(db: Database) -> Visits:
    hp = _elder("王秀英", "东城区", "和平街道", "和平里社区")
    ad = _elder("孙凤英", "东城区", "安定门街道")
    yt = _elder("赵玉兰", "西城区", "月坛街道")
    provider = Provider(name=f"康乐居家养老服务中心-{uuid.uuid4().hex[:4]}")
    li = _carer("李桂兰", provider.id)
    zhang = _carer("张红", None)
    nov = date(2026, 11, 3)
    done = {"started_at": datetime(2026, 11, 3, 1, 10, tzinfo=UTC),
            "finished_at": datetime(2026, 11, 3, 2, 0, tzinfo=UTC)}  # fmt: skip
    meal = _visit(hp, nov, VisitState.DONE, caregiver_id=li.id, partner_id=zhang.id,
                  start_distance_m=20.0, price_fen=3000, subsidy_fen=2000, self_pay_fen=1000,
                  **done)  # fmt: skip
    away = _visit(ad, nov + timedelta(days=9), VisitState.DONE, caregiver_id=li.id,
                  start_distance_m=450.0, service="cleaning")  # fmt: skip
    nobody = _visit(yt, nov + timedelta(days=17), VisitState.MISSED, caregiver_id=zhang.id,
                    start_distance_m=5.0, exception="nobody_home")  # fmt: skip
    december = _visit(hp, date(2026, 12, 2), VisitState.SCHEDULED)
    with db.session() as session:
        session.add(provider)
        session.flush()
        session.add_all([hp, ad, yt, li, zhang])
        session.flush()
        session.add_all([meal, away, nobody, december])
        session.flush()
        session.add(
            FollowUp(
                visit_id=meal.id,
                reason="first_visit",
                created_at=datetime(2026, 11, 3, 3, 0, tzinfo=UTC),
                satisfaction=5,
            )
        )
    return Visits(meal.id, away.id, nobody.id, december.id, li.id, zhang.id, provider.id)


async def _ids(http: httpx.AsyncClient, **params: object) -> list[str]:
    response = await http.get("/api/v1/reports/visits", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return [item["visit_id"] for item in body["items"]]


async def test_visit_history_filters_page_and_scope(server: RunningServer) -> None:
    v = await asyncio.to_thread(seed_visits, server.services.db)
    meal, away, nobody, december = (str(i) for i in (v.meal, v.away, v.nobody, v.december))
    supervisor = await login(server.http, server.services.db, "supervisor")
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        assert await _ids(http) == [december, nobody, away, meal]  # newest day first
        nov = {"since": "2026-11-01", "until": "2026-12-01"}
        assert await _ids(http, **nov) == [nobody, away, meal]
        assert await _ids(http, area="东城区") == [december, away, meal]
        assert await _ids(http, area="东城区/和平街道/和平里社区") == [december, meal]
        assert await _ids(http, area="西城区/月坛街道") == [nobody]
        assert await _ids(http, area="东城区/别的街道") == []
        assert await _ids(http, service="cleaning") == [away]
        assert await _ids(http, state="missed") == [nobody]
        assert await _ids(http, exception="nobody_home") == [nobody]
        # 张红 went second on the meal visit and alone to the missed one.
        assert await _ids(http, caregiver_id=str(v.zhang)) == [nobody, meal]
        assert await _ids(http, caregiver_id=str(uuid.uuid4())) == []
        assert await _ids(http, provider_id=str(v.provider_id)) == [away, meal]
        assert await _ids(http, away="true") == [away]  # 450 m > start_radius_m (200)
        assert await _ids(http, away="false", **nov) == [nobody, meal]

        page = (await http.get("/api/v1/reports/visits", params={"limit": 2, "offset": 2})).json()
        assert page["total"] == 4
        assert [i["visit_id"] for i in page["items"]] == [away, meal]
        row = page["items"][1]
        assert row["community"] == "和平里社区"
        assert row["caregiver"] == "李桂兰"
        assert row["partner"] == "张红"
        assert row["provider"].startswith("康乐居家养老服务中心")
        assert row["satisfaction"] == 5
        assert row["away_from_address"] is False
        assert row["subsidy_fen"] == 2000
        assert row["started_at"].startswith("2026-11-03T01:10:00")
        assert page["items"][0]["away_from_address"] is True

        for bad in (
            {"area": "东城区//x"},
            {"since": "2026-12-01", "until": "2026-11-01"},
            {"since": "November"},
            {"state": "lost"},
            {"away": "maybe"},
            {"limit": 0},
        ):
            response = await http.get("/api/v1/reports/visits", params=bad)
            assert response.status_code == 422, (bad, response.text)

    # An operator of a street sees the visits to the elders living in it.
    street = await login(server.http, server.services.db, "operator", areas=("东城区/和平街道",))
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(street)) as http:
        assert await _ids(http) == [december, meal]
        assert await _ids(http, area="西城区") == []
    west = await login(server.http, server.services.db, "operator", areas=("西城区",))
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(west)) as http:
        assert await _ids(http) == [nobody]
        exported = await http.get("/api/v1/reports/visits.csv", params={"area": "东城区"})
        assert exported.status_code == 200
        assert list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig")))) == [
            list(COLUMNS)
        ]
    caregiver = await login(server.http, server.services.db, "caregiver", caregiver_id=v.li)
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(caregiver)) as http:
        assert (await http.get("/api/v1/reports/visits")).status_code == 403


async def test_visit_csv_and_xlsx_hold_the_filtered_history(server: RunningServer) -> None:
    v = await asyncio.to_thread(seed_visits, server.services.db)
    supervisor = await login(server.http, server.services.db, "supervisor")
    params = {"area": "东城区", "caregiver_id": str(v.zhang)}
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        as_csv = await http.get("/api/v1/reports/visits.csv", params=params)
        as_xlsx = await http.get("/api/v1/reports/visits.xlsx", params=params)
        bad = await http.get("/api/v1/reports/visits.xlsx", params={"area": "/"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "visits-" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [r["visit_id"] for r in rows] == [str(v.meal)]
    assert rows[0]["partner"] == "张红"
    assert rows[0]["away_from_address"] == "no"
    assert rows[0]["satisfaction"] == "5"
    assert rows[0]["day"] == "2026-11-03"

    assert as_xlsx.status_code == 200, as_xlsx.text
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet is not None
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0] == list(COLUMNS)
    assert len(table) == 2
    assert table[1][COLUMNS.index("visit_id")] == str(v.meal)
    assert table[1][COLUMNS.index("street")] == "和平街道"
    assert bad.status_code == 422
