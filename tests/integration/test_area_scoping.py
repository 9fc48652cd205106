"""Operators of one district cannot read or change another district's home
services, follow-ups, routes or coverage, nor the city's dead letters: one test
per endpoint, each with an elder of 东城区 (the operator's) and one of 南湖区."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest

from dispatch.store.tables import Elder, FollowUp, ServiceRequest, Visit
from tests.conftest import RunningServer
from tests.helpers import CENTER, bearer, login, seed_small_city

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
