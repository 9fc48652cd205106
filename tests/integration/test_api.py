"""REST API: registry, filters, clear errors, OpenAPI, health."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import RunningServer
from tests.helpers import bearer, login


@pytest.fixture
async def http(server: RunningServer) -> httpx.AsyncClient:
    token = await login(server.http, server.services.db, "admin")
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(token)) as client:
        yield client  # type: ignore[misc]


async def test_health_reports_each_dependency(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": True,
        "redis": True,
        "mqtt": True,
        "ingest": True,
        "loops_down": [],
    }


async def test_openapi_lists_the_resources(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    for path in [
        "/api/v1/elders",
        "/api/v1/devices",
        "/api/v1/caregivers",
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}/audit",
        "/api/v1/orders",
        "/api/v1/dead-letters",
    ]:
        assert path in paths


async def test_elders_are_found_by_part_of_a_name_phone_or_address(
    http: httpx.AsyncClient,
) -> None:
    for name, phone, address in [
        ("陈淑珍", "13800001111", "望湖街道望湖社区5幢"),
        ("刘桂芳", "13900002222", "和平街道和平里社区3幢"),
    ]:
        body = {"name": name, "phone": phone, "address": address, "lat": 30.28, "lon": 120.16}
        assert (await http.post("/api/v1/elders", json=body)).status_code == 201

    async def found(q: str) -> list[str]:
        response = await http.get("/api/v1/elders", params={"q": q})
        return [e["name"] for e in response.raise_for_status().json()]

    assert await found("淑珍") == ["陈淑珍"]
    assert await found("0000222") == ["刘桂芳"]
    assert await found("望湖") == ["陈淑珍"]
    assert await found("%") == []  # a wildcard is just a character
    assert len(await found("")) == 2


async def test_register_elder_device_and_caregiver(http: httpx.AsyncClient) -> None:
    elder = (
        await http.post(
            "/api/v1/elders",
            json={
                "name": "陈淑珍",
                "address": "望湖街道望湖社区5幢1单元202室",
                "lat": 30.28,
                "lon": 120.16,
                "district": "东城区",
            },
        )
    ).json()
    device = await http.post(
        "/api/v1/devices", json={"id": "pb-api-1", "kind": "panic_button", "elder_id": elder["id"]}
    )
    assert device.status_code == 201
    caregiver = await http.post(
        "/api/v1/caregivers",
        json={
            "name": "周海燕",
            "skills": ["basic_care", "nursing"],
            "shift_start": "08:00",
            "shift_end": "20:00",
            "home_lat": 30.27,
            "home_lon": 120.15,
        },
    )
    assert caregiver.status_code == 201
    assert caregiver.json()["transport"] == "ebike"
    no_shift = await http.post(
        "/api/v1/caregivers",
        json={
            "name": "王立",
            "skills": ["basic_care"],
            "shift_start": "08:00",
            "shift_end": "08:00",
            "home_lat": 30.27,
            "home_lon": 120.15,
        },
    )
    assert no_shift.status_code == 422
    assert "shift_start and shift_end must differ" in no_shift.text

    listed = (await http.get("/api/v1/devices", params={"elder_id": elder["id"]})).json()
    assert [d["id"] for d in listed] == ["pb-api-1"]
    nurses = (await http.get("/api/v1/caregivers", params={"skill": "nursing"})).json()
    assert [c["name"] for c in nurses] == ["周海燕"]
    assert (await http.get("/api/v1/caregivers", params={"skill": "surgery"})).json() == []
    assert (await http.get(f"/api/v1/elders/{elder['id']}")).json()["name"] == "陈淑珍"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"id": "x y", "kind": "panic_button"}, 422, "pattern"),
        ({"id": "ok-1", "kind": "toaster"}, 422, "unknown device kind"),
        (
            {
                "id": "ok-2",
                "kind": "panic_button",
                "elder_id": "00000000-0000-0000-0000-000000000000",
            },
            404,
            "elder",
        ),
        ({"id": "ok-3", "kind": "panic_button", "colour": "red"}, 422, "Extra inputs"),
    ],
)
async def test_bad_device_registration_is_refused_clearly(
    http: httpx.AsyncClient, body: dict[str, object], status: int, fragment: str
) -> None:
    response = await http.post("/api/v1/devices", json=body)
    assert response.status_code == status
    assert fragment in response.text


async def test_duplicate_device_is_a_conflict(http: httpx.AsyncClient) -> None:
    body = {"id": "pb-dup", "kind": "door_bell"}
    assert (await http.post("/api/v1/devices", json=body)).status_code == 201
    assert (await http.post("/api/v1/devices", json=body)).status_code == 409


async def test_missing_things_are_404_and_bad_filters_422(http: httpx.AsyncClient) -> None:
    zero = "00000000-0000-0000-0000-000000000000"
    for path in [
        f"/api/v1/alerts/{zero}",
        f"/api/v1/alerts/{zero}/audit",
        f"/api/v1/orders/{zero}",
        f"/api/v1/elders/{zero}",
        "/api/v1/devices/nope",
    ]:
        assert (await http.get(path)).status_code == 404, path
    assert (await http.get("/api/v1/alerts", params={"status": "sleeping"})).status_code == 422
    assert (await http.get("/api/v1/alerts", params={"limit": 0})).status_code == 422
