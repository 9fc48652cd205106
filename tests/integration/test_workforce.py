"""Providers, facilities and caregivers' records through the API; who may change them."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import RunningServer
from tests.helpers import bearer, login, seed_small_city, wait_until


async def test_an_administrator_keeps_providers_stations_and_caregivers_records(
    server: RunningServer,
) -> None:
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)
    admin = bearer(await login(server.http, db, "admin"))
    operator = bearer(await login(server.http, db, "operator", areas=("东城区",)))
    async with httpx.AsyncClient(base_url=server.http) as http:
        provider = await http.post(
            "/api/v1/providers", headers=admin, json={"name": "安康居家养老服务中心"}
        )
        assert provider.status_code == 201
        again = await http.post(
            "/api/v1/providers", headers=admin, json={"name": "安康居家养老服务中心"}
        )
        assert again.status_code == 409
        station = await http.post(
            "/api/v1/facilities",
            headers=admin,
            json={
                "name": "和平里服务站",
                "kind": "station",
                "provider_id": provider.json()["id"],
                "lat": 30.275,
                "lon": 120.156,
                "opening_hours": "Mo-Su 07:00-20:00",
            },
        )
        assert station.status_code == 201, station.text
        assert [f["name"] for f in (await http.get("/api/v1/facilities", headers=operator)).json()]

        url = f"/api/v1/caregivers/{city.far_id}"
        change = {
            "provider_id": provider.json()["id"],
            "station_id": station.json()["id"],
            "certificates": [
                {"skill": "first_aid", "name": "救护员证", "expires_on": "2027-06-30"}
            ],
            "weekly_shifts": {"1": ["08:00", "16:00"], "3": ["08:00", "16:00"]},
            "leave_days": ["2026-12-24"],
            "transport": "car",
        }
        assert (await http.patch(url, headers=operator, json=change)).status_code == 403
        changed = await http.patch(url, headers=admin, json=change)
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert body["provider"] == "安康居家养老服务中心"
        assert (body["station_lat"], body["station_lon"]) == (30.275, 120.156)
        assert body["weekly_shifts"]["1"] == ["08:00:00", "16:00:00"]
        assert body["transport"] == "car"

        bad = await http.patch(
            url, headers=admin, json={"weekly_shifts": {"1": ["09:00", "09:00"]}}
        )
        assert bad.status_code == 422
        not_station = await http.post(
            "/api/v1/facilities",
            headers=admin,
            json={"name": "食堂", "kind": "canteen", "lat": 30.27, "lon": 120.15},
        )
        wrong = await http.patch(url, headers=admin, json={"station_id": not_station.json()["id"]})
        assert wrong.status_code == 404


async def test_the_boards_live_caregivers_show_one_on_leave_today_as_off_shift(
    server: RunningServer,
) -> None:
    """The board's map reads today's record as the dispatcher does: both caregivers
    share a fresh position and a daily shift covering the whole day, but one is on
    leave today."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from tests.integration.test_end_to_end import on_shift

    city = await asyncio.to_thread(seed_small_city, server.services.db)
    admin = bearer(await login(server.http, server.services.db, "admin"))
    today = datetime.now(UTC).astimezone(ZoneInfo(server.settings.timezone)).date()
    async with httpx.AsyncClient(base_url=server.http, headers=admin) as http:
        leave = await http.patch(
            f"/api/v1/caregivers/{city.far_id}", json={"leave_days": [today.isoformat()]}
        )
        assert leave.status_code == 200, leave.text
        await on_shift(server, city.near_id, 0.0045)
        await on_shift(server, city.far_id, 0.018)

        async def both() -> dict[str, str] | None:
            rows = (await http.get("/api/v1/caregivers/live")).json()
            return {c["id"]: c["state"] for c in rows} if len(rows) == 2 else None

        live = await wait_until(both)  # both positions are in Redis
    assert live == {str(city.near_id): "free", str(city.far_id): "off_shift"}
