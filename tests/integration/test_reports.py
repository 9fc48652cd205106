"""The care bureau's alert history and operators' work, on real databases: filters,
area scoping, paging, the CSV and XLSX exports."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import httpx
from openpyxl import load_workbook

from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.store.alert_history import COLUMNS
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, Caregiver, Elder, Order, Provider
from tests.conftest import RunningServer
from tests.helpers import CENTER, bearer, login
from tests.integration.test_visit_history import seed_visits


@dataclass(frozen=True)
class History:
    caught: uuid.UUID  # a fall in 东城区, reached in time, closed by op-zhang's shift
    pressed: uuid.UUID  # a press in 东城区, cancelled, nobody went
    late: uuid.UUID  # a press in 西城区, reached after the deadline
    october: uuid.UUID  # an old one in 东城区, never acknowledged
    caregiver_id: uuid.UUID
    provider_id: uuid.UUID


def _alert(
    elder: Elder,
    alert_type: str,
    severity: str,
    state: AlertState,
    raised: datetime,
    *,
    by: str | None = None,
    ack_after_s: float = 0,
    code: str | None = None,
) -> Alert:
    return Alert(
        elder_id=elder.id,
        alert_type=alert_type,
        severity=severity,
        state=state,
        raised_at=raised,
        deadline_at=raised + timedelta(minutes=15),
        device_ts=raised,
        updated_at=raised,
        lat=CENTER[0],
        lon=CENTER[1],
        district=elder.district,
        street=elder.street,
        community=elder.community,
        acknowledged_by=by,
        acknowledged_at=raised + timedelta(seconds=ack_after_s) if by else None,
        closure_code=code,
        claimed_until=raised + timedelta(days=400),
    )


def _step(alert: Alert, entity: str, to_state: str, after_s: float, **kw: object) -> AuditRecord:
    return AuditRecord(
        alert_id=alert.id,
        entity=entity,
        from_state=None,
        to_state=to_state,
        actor="system",
        at=alert.raised_at + timedelta(seconds=after_s),
        published=True,
        **kw,
    )


def seed_history(db: Database) -> History:
    east = Elder(
        name="王秀英",
        address="和平里社区3幢",
        lat=CENTER[0],
        lon=CENTER[1],
        district="东城区",
        street="和平街道",
        community="和平里社区",
    )
    west = Elder(
        name="赵玉兰",
        address="月坛北街5号",
        lat=CENTER[0],
        lon=CENTER[1],
        district="西城区",
        street="月坛街道",
    )
    provider = Provider(name=f"康乐居家养老服务中心-{uuid.uuid4().hex[:4]}")
    carer = Caregiver(
        name="李桂兰",
        provider_id=provider.id,
        skills=["basic_care"],
        shift_start=time(0, 0),
        shift_end=time(23, 59, 59),
        transport="ebike",
        home_lat=CENTER[0],
        home_lon=CENTER[1],
    )
    nov = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
    caught = _alert(east, "fall", "critical", AlertState.RESOLVED, nov, by="op-zhang",
                    ack_after_s=30, code="fall_no_injury")  # fmt: skip
    pressed = _alert(east, "help_button", "high", AlertState.CANCELLED, nov + timedelta(days=2),
                     by="op-li", ack_after_s=90, code="accidental_press")  # fmt: skip
    late = _alert(west, "help_button", "high", AlertState.RESOLVED, nov + timedelta(days=10),
                  by="op-zhang", ack_after_s=60, code="real_emergency")  # fmt: skip
    october = _alert(east, "help_button", "medium", AlertState.CANCELLED,
                     datetime(2026, 10, 5, 8, 0, tzinfo=UTC), code="test")  # fmt: skip
    with db.session() as session:
        session.add(provider)
        session.flush()
        session.add_all([east, west, carer])
        session.flush()
        session.add_all([caught, pressed, late, october])
        session.flush()
        for alert in (caught, late):
            session.add(
                Order(
                    alert_id=alert.id,
                    caregiver_id=carer.id,
                    state=OrderState.COMPLETED,
                    offered_at=alert.raised_at,
                    expires_at=alert.raised_at + timedelta(seconds=60),
                    updated_at=alert.raised_at,
                    eta_s=300,
                    distance_m=800,
                )
            )
        # The operators' acknowledgements: what the monthly report counts as answers.
        session.add_all(
            [
                _step(a, "alert", "acknowledged", after_s, action="acknowledged")
                for a, after_s in ((caught, 30), (pressed, 90), (late, 60))
            ]
        )
        session.add_all(
            [
                _step(caught, "order", "on_scene", 600, caregiver_id=carer.id),
                _step(caught, "alert", "resolved", 2400),
                _step(pressed, "alert", "cancelled", 300),
                _step(late, "order", "on_scene", 1200, caregiver_id=carer.id),
                _step(late, "alert", "resolved", 3000),
                _step(october, "alert", "cancelled", 120),
            ]
        )
    return History(caught.id, pressed.id, late.id, october.id, carer.id, provider.id)


async def _ids(http: httpx.AsyncClient, **params: object) -> list[str]:
    response = await http.get("/api/v1/reports/alerts", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return [item["alert_id"] for item in body["items"]]


async def test_history_filters_page_and_scope(server: RunningServer) -> None:
    h = await asyncio.to_thread(seed_history, server.services.db)
    caught, pressed, late, october = (str(i) for i in (h.caught, h.pressed, h.late, h.october))
    supervisor = await login(server.http, server.services.db, "supervisor")
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        assert await _ids(http) == [late, pressed, caught, october]  # newest first
        nov = {"since": "2026-11-01T00:00:00+08:00", "until": "2026-12-01T00:00:00+08:00"}
        assert await _ids(http, **nov) == [late, pressed, caught]
        assert await _ids(http, area="东城区") == [pressed, caught, october]
        assert await _ids(http, area="东城区/和平街道/和平里社区") == [pressed, caught, october]
        assert await _ids(http, area="西城区/月坛街道") == [late]
        assert await _ids(http, area="东城区/别的街道") == []
        assert await _ids(http, type="fall") == [caught]
        assert await _ids(http, severity="high") == [late, pressed]
        assert await _ids(http, closure_code="accidental_press") == [pressed]
        assert await _ids(http, operator="op-zhang") == [late, caught]
        assert await _ids(http, caregiver_id=str(h.caregiver_id)) == [late, caught]
        assert await _ids(http, caregiver_id=str(uuid.uuid4())) == []
        assert await _ids(http, provider_id=str(h.provider_id)) == [late, caught]
        assert await _ids(http, provider_id=str(uuid.uuid4())) == []
        assert await _ids(http, reached="true") == [caught]
        assert await _ids(http, reached="false") == [late, pressed, october]
        assert await _ids(http, reached="false", operator="op-zhang", **nov) == [late]

        page = (await http.get("/api/v1/reports/alerts", params={"limit": 2, "offset": 1})).json()
        assert page["total"] == 4
        assert [i["alert_id"] for i in page["items"]] == [pressed, caught]
        row = page["items"][1]
        assert row["street"] == "和平街道"
        assert row["caregivers"] == ["李桂兰"]
        assert row["reached_by_deadline"] is True
        assert row["arrived_at"].startswith("2026-11-10T02:10:00")
        assert row["closed_at"].startswith("2026-11-10T02:40:00")
        assert row["acknowledged_by"] == "op-zhang"

        for bad in (
            {"area": "东城区//x"},
            {"since": "2026-11-01T00:00:00"},  # no offset: which midnight?
            {"since": "2026-12-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
            {"reached": "maybe"},
            {"limit": 0},
        ):
            response = await http.get("/api/v1/reports/alerts", params=bad)
            assert response.status_code == 422, (bad, response.text)

    west_operator = await login(server.http, server.services.db, "operator", areas=("西城区",))
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(west_operator)) as http:
        assert await _ids(http) == [late]
        assert await _ids(http, area="东城区") == []
    north_operator = await login(server.http, server.services.db, "operator", areas=("北城区",))
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(north_operator)) as http:
        assert await _ids(http) == []
        exported = await http.get("/api/v1/reports/alerts.csv")
        assert exported.status_code == 200
        assert list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig")))) == [
            list(COLUMNS)
        ]
    caregiver = await login(
        server.http, server.services.db, "caregiver", caregiver_id=h.caregiver_id
    )
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(caregiver)) as http:
        assert (await http.get("/api/v1/reports/alerts")).status_code == 403


async def test_csv_and_xlsx_hold_the_filtered_history(server: RunningServer) -> None:
    h = await asyncio.to_thread(seed_history, server.services.db)
    supervisor = await login(server.http, server.services.db, "supervisor")
    params = {"area": "东城区", "operator": "op-zhang"}
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        as_csv = await http.get("/api/v1/reports/alerts.csv", params=params)
        as_xlsx = await http.get("/api/v1/reports/alerts.xlsx", params=params)
        bad = await http.get("/api/v1/reports/alerts.csv", params={"area": "/"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert ".csv" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [r["alert_id"] for r in rows] == [str(h.caught)]
    assert rows[0]["district"] == "东城区"
    assert rows[0]["caregivers"] == "李桂兰"
    assert rows[0]["reached_by_deadline"] == "yes"
    assert rows[0]["closure_code"] == "fall_no_injury"

    assert as_xlsx.status_code == 200, as_xlsx.text
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet is not None
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0] == list(COLUMNS)
    assert len(table) == 2
    assert table[1][COLUMNS.index("alert_id")] == str(h.caught)
    assert table[1][COLUMNS.index("community")] == "和平里社区"
    assert bad.status_code == 422


async def test_operators_work_by_month(server: RunningServer) -> None:
    await asyncio.to_thread(seed_history, server.services.db)
    supervisor = await login(server.http, server.services.db, "supervisor")
    operator = await login(server.http, server.services.db, "operator", areas=("东城区",))
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        november = await http.get("/api/v1/reports/operators", params={"month": "2026-11"})
        october = await http.get("/api/v1/reports/operators", params={"month": "2026-10"})
        for bad in ("2026-13", "2026-1", "november", ""):
            response = await http.get("/api/v1/reports/operators", params={"month": bad})
            assert response.status_code == 422, bad
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        refused = await http.get("/api/v1/reports/operators", params={"month": "2026-11"})
    assert refused.status_code == 403
    assert november.status_code == 200, november.text
    work = {w["operator"]: w for w in november.json()["operators"]}
    assert set(work) == {"op-zhang", "op-li"}
    zhang = work["op-zhang"]
    assert zhang["acknowledged"] == 2
    assert zhang["answer_median_s"] == 45
    assert zhang["answer_p90_s"] == 60
    assert zhang["closed"] == 2
    # (2400 - 30 + 3000 - 60) / 2
    assert zhang["ack_to_close_median_s"] == 2655
    assert work["op-li"]["answer_median_s"] == 90
    assert work["op-li"]["ack_to_close_median_s"] == 210
    assert october.json()["operators"] == []


async def test_operators_work_shift_by_shift(server: RunningServer) -> None:
    await asyncio.to_thread(seed_history, server.services.db)
    supervisor = await login(server.http, server.services.db, "supervisor")
    operator = await login(server.http, server.services.db, "operator", areas=("东城区",))
    url = "/api/v1/reports/operators/shifts"
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        november = await http.get(url, params={"month": "2026-11"})
        bad = await http.get(url, params={"month": "2026-13"})
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        refused = await http.get(url, params={"month": "2026-11"})
    assert (bad.status_code, refused.status_code) == (422, 403)
    assert november.status_code == 200, november.text
    body = november.json()
    assert body["shift_starts"] == ["00:00", "08:00", "16:00"]
    # Each alert was acknowledged about 10:00 in Shanghai (02:00 UTC): the day shift.
    shifts = body["shifts"]
    assert [s["start"] for s in shifts] == [
        "2026-11-10T08:00:00+08:00",
        "2026-11-12T08:00:00+08:00",
        "2026-11-20T08:00:00+08:00",
    ]
    assert shifts[0]["end"] == "2026-11-10T16:00:00+08:00"
    assert [(w["operator"], w["answer_median_s"]) for w in shifts[0]["operators"]] == [
        ("op-zhang", 30)
    ]
    assert [s["total"]["acknowledged"] for s in shifts] == [1, 1, 1]
    assert shifts[1]["total"]["operator"] == ""
    assert shifts[1]["operators"][0]["operator"] == "op-li"
    assert shifts[2]["total"]["ack_to_close_median_s"] == 3000 - 60


async def test_monthly_report_for_the_city_and_a_district(server: RunningServer) -> None:
    await asyncio.to_thread(seed_history, server.services.db)
    await asyncio.to_thread(seed_visits, server.services.db)
    supervisor = await login(server.http, server.services.db, "supervisor")
    operator = await login(server.http, server.services.db, "operator", areas=("东城区",))
    url = "/api/v1/reports/monthly"
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        city = await http.get(url, params={"month": "2026-11"})
        east = await http.get(url, params={"month": "2026-11", "district": "东城区"})
        for bad in ({"month": "2026-13"}, {"month": "2026-11", "district": "东城区/和平街道"}):
            assert (await http.get(url, params=bad)).status_code == 422, bad
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        assert (await http.get(url, params={"month": "2026-11"})).status_code == 403
    assert city.status_code == 200, city.text
    body = city.json()
    k = body["kpis"]
    # caught (answered in 30 s, reached), pressed (90 s, nobody sent), late (60 s, late)
    assert k["alerts"] == 3
    assert k["answered_within_60s"] == 0.6667
    assert (k["caregiver_sent"], k["reached_by_deadline"]) == (2, 0.5)
    assert k["closed_by_code"] == {"accidental_press": 1, "fall_no_injury": 1, "real_emergency": 1}
    assert k["false_alarm_rate"] == 0.3333
    assert (k["follow_ups_rated"], k["satisfaction_mean"]) == (1, 5.0)
    assert [m["month"] for m in body["trend"]] == [
        "2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"
    ]  # fmt: skip
    # October's one alert was a test call: no alarm to count.
    assert body["trend"][4]["alerts"] == 0
    assert body["trend"][4]["answered_within_60s"] is None

    k = east.json()["kpis"]
    assert east.json()["district"] == "东城区"
    assert (k["alerts"], k["answered_within_60s"], k["reached_by_deadline"]) == (2, 0.5, 1.0)
    assert k["false_alarm_rate"] == 0.5
    assert k["satisfaction_mean"] == 5.0
