"""The care bureau's closed loop over the real API, WebSockets, Redis and database:
request → approval → planned route → visits in the app → follow-up → statement."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlmodel import select

from dispatch.domain.lifecycle import RequestState, VisitState
from dispatch.domain.model import TransportMode
from dispatch.homecare import requests
from dispatch.store.tables import Caregiver, Elder, Visit
from simulators.caregiver_app import AppBehaviour, CaregiverAppSim, CaregiverProfile
from tests.conftest import RunningServer
from tests.helpers import CENTER, LiveClient, bearer, login, seed_small_city, wait_until

PROVIDER = "东城居家养老服务中心"


def _seed(server: RunningServer) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    elder = Elder(
        name="王秀英",
        address="和平里3幢2单元301室",
        lat=CENTER[0],
        lon=CENTER[1],
        district="东城区",
        care_level=1,  # 200 yuan of subsidy a month
    )
    caregiver = Caregiver(
        name="李桂兰",
        skills=["basic_care"],
        shift_start=time(0, 0),
        shift_end=time(23, 59, 59),
        home_lat=CENTER[0] + 0.01,
        home_lon=CENTER[1],
        provider=PROVIDER,
    )
    # Off shift all day: nothing is planned for him.
    other = Caregiver(
        name="张建国",
        shift_start=time(0, 0),
        shift_end=time(0, 0, 1),
        home_lat=CENTER[0],
        home_lon=CENTER[1],
    )
    with server.services.db.session() as session:
        session.add_all([elder, caregiver, other])
    return elder.id, caregiver.id, other.id


async def test_request_to_statement_end_to_end(server: RunningServer) -> None:
    elder_id, caregiver_id, other_id = await asyncio.to_thread(_seed, server)
    db = server.services.db
    operator = await login(server.http, db, "operator", areas=("东城区",))
    assessor = await login(server.http, db, "supervisor")
    app = await login(server.http, db, "caregiver", caregiver_id=caregiver_id)
    other_app = await login(server.http, db, "caregiver", caregiver_id=other_id)
    today = datetime.now(ZoneInfo(server.settings.timezone)).date()
    phone = await LiveClient.connect(f"{server.ws}/ws/v1/caregivers/{caregiver_id}", app)

    async with (
        httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as ops,
        httpx.AsyncClient(base_url=server.http, headers=bearer(assessor)) as bureau,
        httpx.AsyncClient(base_url=server.http, headers=bearer(app)) as me,
        httpx.AsyncClient(base_url=server.http, headers=bearer(other_app)) as stranger,
    ):
        menu = (await ops.get("/api/v1/services/menu")).json()
        assert "cleaning" in {i["code"] for i in menu["items"]}

        # A daughter asks for cleaning today and a meal delivery; bad input is refused.
        def ask(item: str) -> dict[str, object]:
            return {
                "elder_id": str(elder_id),
                "item": item,
                "source": "family",
                "requested_by": "女儿 王丽",
                "first_day": today.isoformat(),
                "window_start": "00:00",
                "window_end": "23:59",
            }

        assert (await ops.post("/api/v1/service-requests", json=ask("massage"))).status_code == 422
        bad_window = {**ask("cleaning"), "window_start": "12:00", "window_end": "11:00"}
        assert (await ops.post("/api/v1/service-requests", json=bad_window)).status_code == 422
        cleaning = (await ops.post("/api/v1/service-requests", json=ask("cleaning"))).json()
        meal = (await ops.post("/api/v1/service-requests", json=ask("meal_delivery"))).json()
        assert cleaning["state"] == "requested"

        # Approval is the bureau's; an operator may not.
        url = f"/api/v1/service-requests/{cleaning['id']}/approve"
        assert (await ops.post(url, json={})).status_code == 403
        assert (await bureau.post(url, json={"reason": "assessed level 1"})).json()["state"] == (
            "approved"
        )
        url = f"/api/v1/service-requests/{meal['id']}/approve"
        assert (await bureau.post(url, json={})).status_code == 200

        # Planning puts both on her route and tells her phone.
        plan = (await bureau.post(f"/api/v1/planning/{today}", json={"time_limit_s": 1})).json()
        assert plan["planned"] == 2
        assert plan["changed_caregivers"] == [str(caregiver_id)]
        await phone.next("route.changed", day=today.isoformat())
        route = (await me.get("/api/v1/me/visits")).json()
        assert [v["service"] for v in route] in (
            ["cleaning", "meal_delivery"],
            ["meal_delivery", "cleaning"],
        )
        assert all(v["state"] == "planned" and v["planned_start"] for v in route)
        board_routes = (await ops.get(f"/api/v1/planning/{today}/routes")).json()
        assert [r["caregiver_name"] for r in board_routes["routes"]] == ["李桂兰"]
        # Each visit knows its place on the route, and the route's caregiver is its own.
        assert sorted(v["sequence"] for v in route) == [1, 2]
        on_board = board_routes["routes"][0]["visits"]
        assert [v["sequence"] for v in on_board] == [1, 2]
        assert {v["caregiver_id"] for v in on_board} == {str(caregiver_id)}
        visit = next(v for v in route if v["service"] == "cleaning")
        missed = next(v for v in route if v["service"] == "meal_delivery")
        assert visit["service_label_zh"] == "助洁保洁"

        # At the door (a kilometre off: recorded for review), then done.
        started = await me.post(
            f"/api/v1/me/visits/{visit['id']}/start",
            json={"lat": CENTER[0] + 0.009, "lon": CENTER[1]},
        )
        assert started.json()["away_from_address"] is True
        # Another caregiver's app cannot touch it.
        url = f"/api/v1/me/visits/{visit['id']}/finish"
        assert (await stranger.post(url, json={})).status_code == 404
        done = await me.post(
            f"/api/v1/me/visits/{visit['id']}/finish", json={"notes": "厨房已清洁"}
        )
        assert done.json()["state"] == "done"
        assert done.json()["subsidy_fen"] == 6000
        assert (
            await me.post(f"/api/v1/me/visits/{visit['id']}/finish", json={})
        ).status_code == 409

        # Nobody answers for the meal: the visit ends and the call centre has an alert.
        problem = await me.post(
            f"/api/v1/me/visits/{missed['id']}/exception",
            json={"kind": "nobody_home", "notes": "敲门无人应答"},
        )
        assert problem.json()["state"] == "missed"
        alert = (await ops.get(f"/api/v1/alerts/{problem.json()['alert_id']}")).json()
        assert alert["alert_type"] == "visit_nobody_home"
        assert alert["elder_id"] == str(elder_id)

        # The first cleaning for this elder is always followed up.
        due = (await ops.get("/api/v1/follow-ups")).json()
        assert [(d["visit_id"], d["reason"]) for d in due] == [(visit["id"], "first_visit")]
        rating = {"reached": True, "satisfaction": 5, "comment": "很满意"}
        assert (await ops.post(f"/api/v1/follow-ups/{visit['id']}", json=rating)).status_code == 200
        assert (await ops.get("/api/v1/follow-ups")).json() == []
        bad = {"reached": False, "satisfaction": 4}
        assert (await ops.post(f"/api/v1/follow-ups/{visit['id']}", json=bad)).status_code == 422

        # The month's statement, as CSV.
        month = f"{today:%Y-%m}"
        response = await ops.get(
            "/api/v1/reports/statements", params={"month": month, "format": "csv"}
        )
        assert response.headers["content-type"].startswith("text/csv")
        rows = {r["item"]: r for r in csv.DictReader(io.StringIO(response.text))}
        assert rows["cleaning"]["provider"] == PROVIDER
        assert rows["cleaning"]["visits"] == "1"
        assert rows["cleaning"]["subsidy_yuan"] == "60.00"
        assert rows["cleaning"]["satisfaction"] == "5.0"
        assert rows["meal_delivery"]["exceptions"] == "1"
        assert rows["meal_delivery"]["subsidy_yuan"] == "0.00"
        assert (
            await ops.get("/api/v1/reports/statements", params={"month": "2026-13"})
        ).status_code == 422
    await phone.close()


async def test_the_simulated_app_works_its_planned_visits(server: RunningServer) -> None:
    city = await asyncio.to_thread(seed_small_city, server.services.db)
    homecare, db = server.services.homecare, server.services.db
    new = requests.NewRequest(
        elder_id=city.elder_id,
        item="company",
        source="operator",
        requested_by="op",
        first_day=homecare.today(),
        window_start=time(0, 0),
        window_end=time(23, 59),
    )
    request = await db.run(requests.create, db, server.services.menu, new, at=datetime.now(UTC))
    await db.run(
        requests.decide,
        db,
        request.id,
        RequestState.APPROVED,
        by="b",
        reason="",
        at=datetime.now(UTC),
    )
    await homecare.plan(homecare.today(), time_limit_s=1)
    # Due now, whatever the time of day the plan chose.
    with db.session() as session:
        planned = session.exec(select(Visit)).one()
        planned.planned_start = datetime.now(UTC) - timedelta(minutes=1)
        session.add(planned)
    behaviour = AppBehaviour(time_scale=600, work_visits=True, visits_every_s=0.2)
    apps = []
    for caregiver_id in (city.near_id, city.far_id):
        token = await login(server.http, db, "caregiver", caregiver_id=caregiver_id)
        profile = CaregiverProfile(
            str(caregiver_id), CENTER[0] + 0.01, CENTER[1], TransportMode.EBIKE
        )
        sim = CaregiverAppSim(server.ws, profile, behaviour, random.Random(1), token)
        apps.append(asyncio.create_task(sim.run()))

    def done() -> Visit | None:
        with db.session() as session:
            return session.exec(select(Visit).where(Visit.state == VisitState.DONE)).first()

    try:
        visit = await wait_until(lambda: db.run(done), timeout_s=20)
    finally:
        for app in apps:
            app.cancel()
        await asyncio.gather(*apps, return_exceptions=True)
    assert visit.start_distance_m is not None
    assert visit.start_distance_m < 50  # it went to the door first
    assert visit.notes == "服务完成"
