"""Operators of one district cannot read or change another district's home
services, follow-ups, routes, coverage or statements, the caregivers working
elsewhere, nor the city's dead letters: one test per endpoint, each with an
elder of 东城区 (the operator's) and one of 南湖区."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest

from dispatch.domain.lifecycle import AlertState, OrderState, VisitState
from dispatch.domain.live_events import caregiver_position_event
from dispatch.store.tables import (
    Alert,
    Caregiver,
    Elder,
    FollowUp,
    Order,
    Provider,
    ServiceRequest,
    Visit,
)
from tests.conftest import RunningServer
from tests.helpers import CENTER, LiveClient, bearer, login, seed_small_city

TODAY_WINDOW = {"window_start": "08:00:00", "window_end": "18:00:00"}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@dataclass
class TwoDistricts:
    ours: uuid.UUID  # 东城区: the operator's
    theirs: uuid.UUID  # 南湖区: not
    their_request: uuid.UUID
    their_visit: uuid.UUID
    our_visit: uuid.UUID
    operator: dict[str, str]
    supervisor: dict[str, str]


@pytest.fixture
async def city(server: RunningServer) -> TwoDistricts:
    db = server.services.db
    today = server.services.homecare.today()

    def seed() -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
        ours = seed_small_city(db).elder_id
        with db.session() as session:
            theirs = Elder(
                name="南湖老人",
                address="南湖路1号",
                lat=CENTER[0] + 0.05,
                lon=CENTER[1],
                district="南湖区",
                regular_visits=True,
                phone="13800000000",
            )
            session.add(theirs)
            our = session.get(Elder, ours)
            assert our is not None
            our.regular_visits = True
            session.add(our)
            session.flush()
            request = ServiceRequest(
                elder_id=theirs.id,
                item="meal_assist",
                source="family",
                requested_by="家属",
                first_day=today,
                window_start=time(8),
                window_end=time(18),
                created_at=datetime.now(UTC),
            )
            session.add(request)
            start = datetime.combine(today, time(1), tzinfo=UTC)
            visits = [
                Visit(elder_id=e, service="meal_assist", day=today, window_start=start,
                      window_end=start + timedelta(hours=10))
                for e in (theirs.id, ours)
            ]  # fmt: skip
            session.add_all(visits)
            session.flush()
            for visit in visits:
                session.add(FollowUp(visit_id=visit.id, reason="sample", created_at=start))
            return ours, theirs.id, request.id, visits[0].id, visits[1].id

    ours, theirs, their_request, their_visit, our_visit = await asyncio.to_thread(seed)
    operator = bearer(await login(server.http, db, "operator", areas=("东城区",)))
    supervisor = bearer(await login(server.http, db, "supervisor"))
    return TwoDistricts(ours, theirs, their_request, their_visit, our_visit, operator, supervisor)


async def test_service_requests_are_made_only_for_elders_of_ones_areas(
    server: RunningServer, city: TwoDistricts
) -> None:
    body = {"item": "meal_assist", "source": "operator", "first_day": "2030-01-07", **TODAY_WINDOW}
    async with httpx.AsyncClient(base_url=server.http) as http:
        theirs = await http.post(
            "/api/v1/service-requests",
            headers=city.operator,
            json={**body, "elder_id": str(city.theirs)},
        )
        assert theirs.status_code == 403
        ours = await http.post(
            "/api/v1/service-requests",
            headers=city.operator,
            json={**body, "elder_id": str(city.ours)},
        )
        assert ours.status_code == 201


async def test_service_requests_of_other_areas_are_neither_listed_nor_cancelled(
    server: RunningServer, city: TwoDistricts
) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        listed = await http.get("/api/v1/service-requests", headers=city.operator)
        assert listed.status_code == 200
        assert str(city.their_request) not in {r["id"] for r in listed.json()}
        everyone = await http.get("/api/v1/service-requests", headers=city.supervisor)
        assert str(city.their_request) in {r["id"] for r in everyone.json()}
        cancel = f"/api/v1/service-requests/{city.their_request}/cancel"
        assert (await http.post(cancel, headers=city.operator, json={})).status_code == 403
        assert (await http.post(cancel, headers=city.supervisor, json={})).status_code == 200


async def test_follow_ups_of_other_areas_are_neither_listed_nor_recorded(
    server: RunningServer, city: TwoDistricts
) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        listed = (await http.get("/api/v1/follow-ups", headers=city.operator)).json()
        assert {f["visit_id"] for f in listed} == {str(city.our_visit)}
        record = await http.post(
            f"/api/v1/follow-ups/{city.their_visit}",
            headers=city.operator,
            json={"reached": True, "satisfaction": 5},
        )
        assert record.status_code == 403
        everyone = (await http.get("/api/v1/follow-ups", headers=city.supervisor)).json()
        assert {f["visit_id"] for f in everyone} == {str(city.our_visit), str(city.their_visit)}


async def test_routes_show_an_operator_only_the_visits_of_their_areas(
    server: RunningServer, city: TwoDistricts
) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        mine = (await http.get("/api/v1/planning/today/routes", headers=city.operator)).json()
        every = (await http.get("/api/v1/planning/today/routes", headers=city.supervisor)).json()
    assert {v["id"] for v in mine["unplanned"]} == {str(city.our_visit)}
    assert {v["id"] for v in every["unplanned"]} == {str(city.our_visit), str(city.their_visit)}
    assert "13800000000" not in str(mine)


async def test_coverage_counts_and_names_only_the_elders_of_ones_areas(
    server: RunningServer, city: TwoDistricts
) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        mine = (await http.get("/api/v1/reports/coverage", headers=city.operator)).json()
        every = (await http.get("/api/v1/reports/coverage", headers=city.supervisor)).json()
    assert (mine["flagged"], every["flagged"]) == (1, 2)
    assert "南湖区" not in str(mine)
    assert "南湖区" in str(every)


async def test_dead_letters_are_for_city_wide_roles(
    server: RunningServer, city: TwoDistricts
) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/api/v1/dead-letters", headers=city.operator)).status_code == 403
        assert (await http.get("/api/v1/dead-letters", headers=city.supervisor)).status_code == 200


async def test_statements_bill_an_operator_only_the_visits_of_their_areas(
    server: RunningServer, city: TwoDistricts
) -> None:
    db = server.services.db
    suffix = uuid.uuid4().hex[:4]

    def done_by_providers() -> None:
        # Each visit made by a caregiver of a provider named for its district.
        with db.session() as session:
            for visit_id, district in ((city.our_visit, "东城"), (city.their_visit, "南湖")):
                provider = Provider(name=f"{district}服务社-{suffix}")
                carer = Caregiver(name=f"{district}护理员", provider=provider.name,
                                  provider_id=provider.id, shift_start=time(0),
                                  shift_end=time(23, 59), home_lat=CENTER[0],
                                  home_lon=CENTER[1])  # fmt: skip
                session.add(provider)
                session.flush()
                session.add(carer)
                session.flush()
                visit = session.get(Visit, visit_id)
                assert visit is not None
                visit.state, visit.caregiver_id, visit.subsidy_fen = VisitState.DONE, carer.id, 3000
                session.add(visit)

    await asyncio.to_thread(done_by_providers)
    month = server.services.homecare.today().strftime("%Y-%m")
    async with httpx.AsyncClient(base_url=server.http) as http:
        url = f"/api/v1/reports/statements?month={month}"
        mine = (await http.get(url, headers=city.operator)).json()
        every = (await http.get(url, headers=city.supervisor)).json()
        csv = (await http.get(f"{url}&format=csv", headers=city.operator)).text
    assert [(line["provider"], line["visits"]) for line in mine] == [(f"东城服务社-{suffix}", 1)]
    assert {line["provider"] for line in every} == {f"东城服务社-{suffix}", f"南湖服务社-{suffix}"}
    assert f"东城服务社-{suffix}" in csv
    assert "南湖" not in csv


async def test_caregivers_live_shows_an_operator_those_near_their_districts_or_on_their_alerts(
    server: RunningServer, city: TwoDistricts
) -> None:
    db, bus = server.services.db, server.services.bus

    def two_caregivers() -> tuple[uuid.UUID, uuid.UUID]:
        with db.session() as session:
            ids = []
            for name in ("东城护理员", "南湖护理员"):
                carer = Caregiver(name=name, shift_start=time(0), shift_end=time(23, 59),
                                  home_lat=CENTER[0], home_lon=CENTER[1])  # fmt: skip
                session.add(carer)
                session.flush()
                ids.append(carer.id)
            return ids[0], ids[1]

    near, away = await asyncio.to_thread(two_caregivers)
    # One beside the operator's elder, one at the 南湖 elder's door (5.5 km north).
    await bus.set_position(str(near), CENTER[0] + 0.003, CENTER[1])
    await bus.set_position(str(away), CENTER[0] + 0.05, CENTER[1])

    async def live(headers: dict[str, str]) -> set[str]:
        async with httpx.AsyncClient(base_url=server.http) as http:
            response = await http.get("/api/v1/caregivers/live", headers=headers)
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()} & {str(near), str(away)}

    assert await live(city.operator) == {str(near)}
    assert await live(city.supervisor) == {str(near), str(away)}

    def send_to_our_alert(caregiver_id: uuid.UUID) -> None:
        # Wherever a caregiver is, the operator follows the one on their alert.
        now = datetime.now(UTC)
        with db.session() as session:
            alert = Alert(elder_id=city.ours, alert_type="help_button", severity="high",
                          state=AlertState.EN_ROUTE, raised_at=now, deadline_at=now,
                          device_ts=now, updated_at=now, lat=CENTER[0], lon=CENTER[1],
                          district="东城区")  # fmt: skip
            session.add(alert)
            session.flush()
            session.add(Order(alert_id=alert.id, caregiver_id=caregiver_id,
                              state=OrderState.EN_ROUTE, offered_at=now, expires_at=now,
                              updated_at=now, eta_s=600, distance_m=5500))  # fmt: skip

    await asyncio.to_thread(send_to_our_alert, away)
    assert await live(city.operator) == {str(near), str(away)}


async def test_the_board_socket_streams_an_operator_only_the_positions_of_caregivers_they_see(
    server: RunningServer, city: TwoDistricts
) -> None:
    """The live map is scoped as /api/v1/caregivers/live is: a caregiver far from the
    operator's districts moves on the supervisor's map only, until sent to one of
    the operator's alerts."""
    db, bus = server.services.db, server.services.bus
    near, away = str(uuid.uuid4()), str(uuid.uuid4())
    board = f"{server.ws}/ws/v1/board"
    operator = await LiveClient.connect(board, city.operator["Authorization"].split()[1])
    supervisor = await LiveClient.connect(board, city.supervisor["Authorization"].split()[1])

    async def move(caregiver_id: str, lat: float) -> None:
        event = caregiver_position_event(caregiver_id, lat, CENTER[1], datetime.now(UTC))
        await bus.publish([(bus.board_stream, dict(event))])

    await move(away, CENTER[0] + 0.05)  # at the 南湖 elder's door
    await move(near, CENTER[0] + 0.003)  # beside the operator's elder
    await supervisor.next("caregiver.position", caregiver_id=near)
    assert {m["caregiver_id"] for m in supervisor.received if "caregiver_id" in m} == {near, away}
    await operator.next("caregiver.position", caregiver_id=near)
    assert {m.get("caregiver_id") for m in operator.received} - {None} == {near}

    def send_to_our_alert() -> None:
        now = datetime.now(UTC)
        with db.session() as session:
            carer = Caregiver(name="南湖护理员", shift_start=time(0), shift_end=time(23, 59),
                              home_lat=CENTER[0], home_lon=CENTER[1])  # fmt: skip
            session.add(carer)
            session.flush()
            alert = Alert(elder_id=city.ours, alert_type="help_button", severity="high",
                          state=AlertState.EN_ROUTE, raised_at=now, deadline_at=now,
                          device_ts=now, updated_at=now, lat=CENTER[0], lon=CENTER[1],
                          district="东城区")  # fmt: skip
            session.add(alert)
            session.flush()
            session.add(Order(alert_id=alert.id, caregiver_id=carer.id,
                              state=OrderState.EN_ROUTE, offered_at=now, expires_at=now,
                              updated_at=now, eta_s=600, distance_m=5500))  # fmt: skip
            nonlocal away
            away = str(carer.id)

    await asyncio.to_thread(send_to_our_alert)
    following = await LiveClient.connect(board, city.operator["Authorization"].split()[1])
    await move(away, CENTER[0] + 0.05)
    await following.next("caregiver.position", caregiver_id=away)
    for client in (operator, supervisor, following):
        await client.close()
