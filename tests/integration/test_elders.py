"""Elders' full records: areas as a tree, scoping, masking, audited changes, the access log."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import RunningServer
from tests.helpers import bearer, login, seed_small_city

ID_NUMBER = "330102194403150023"
RECORD: dict[str, Any] = {
    "name": "陈淑珍",
    "address": "和平里社区5幢1单元202室",
    "lat": 30.28,
    "lon": 120.16,
    "external_id": "HZ-0001",
    "id_number": ID_NUMBER,
    "birth_date": "1944-03-15",
    "sex": "female",
    "phones": ["0571-8888 1234", "13800001111"],
    "district": "东城区",
    "street": "和平街道",
    "community": "和平里社区",
    "building": "5",
    "unit": "1",
    "room": "202",
    "living_situation": "alone",
    "hardship": ["kongchao", "gaoling"],
    "economic_status": "dibao",
    "notes": "高血压，心衰病史",
    "medicines": "硝苯地平",
    "allergies": "青霉素",
    "family_doctor": "和平里社区卫生服务站 王医生",
    "access_notes": "门禁 1234#，钥匙在 201 邻居",
    "heart_rate_min": 50,
    "heart_rate_max": 110,
    "geofence_radius_m": 800,
    "regular_visits": True,
    "contacts": [
        {
            "name": "陈晓红",
            "relation": "女儿",
            "phones": ["13900002222"],
            "role": "family",
            "hours": "08:00-22:00",
            "key_holder": True,
        },
        {"name": "李大姐", "relation": "邻居", "phones": ["13700003333"], "role": "neighbour"},
    ],
}


async def _tree(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for name, parent in [
        ("杭州市", None),
        ("东城区", "*"),
        ("和平街道", "东城区"),
        ("望湖街道", "东城区"),
        ("和平里社区", "东城区/和平街道"),
    ]:
        made = await http.post(
            "/api/v1/areas", headers=admin, json={"name": name, "parent": parent}
        )
        assert made.status_code == 201, made.text


async def test_the_full_record_is_scoped_masked_logged_and_audited(server: RunningServer) -> None:
    db = server.services.db
    admin = bearer(await login(server.http, db, "admin"))
    street_op = bearer(await login(server.http, db, "operator", areas=("东城区/和平街道",)))
    other_op = bearer(await login(server.http, db, "operator", areas=("东城区/望湖街道",)))
    city = await asyncio.to_thread(seed_small_city, db)
    caregiver = bearer(await login(server.http, db, "caregiver", caregiver_id=city.near_id))
    async with httpx.AsyncClient(base_url=server.http) as http:
        await _tree(http, admin)
        areas = (await http.get("/api/v1/areas", headers=street_op)).json()
        assert {a["key"]: a["level"] for a in areas}["东城区/和平街道/和平里社区"] == "community"

        made = await http.post("/api/v1/elders", headers=admin, json=RECORD)
        assert made.status_code == 201, made.text
        elder = made.json()
        assert elder["id_number"] == ID_NUMBER  # admins see it whole
        assert [c["name"] for c in elder["contacts"]] == ["陈晓红", "李大姐"]
        assert elder["emergency_contact"] == "陈晓红 (女儿) 13900002222"
        url = f"/api/v1/elders/{elder['id']}"

        seen = await http.get(url, headers={**street_op, "X-CareBell-Screen": "board.card"})
        assert seen.status_code == 200
        assert seen.json()["id_number"] == "330102********0023"
        assert seen.json()["access_notes"] == RECORD["access_notes"]
        assert (await http.get(url, headers=other_op)).status_code == 404
        assert (await http.get(url, headers=caregiver)).status_code == 403
        listed = (await http.get("/api/v1/elders", headers=street_op)).json()
        assert [e["name"] for e in listed] == ["陈淑珍"]
        assert listed[0]["id_number"] == "330102********0023"
        assert "notes" not in listed[0]
        assert "access_notes" not in listed[0]
        assert (await http.get("/api/v1/elders", headers=other_op)).json() == []

        for who in (street_op, other_op, caregiver):
            patched = await http.patch(url, headers=who, json={"name": "x"})
            assert patched.status_code == 403
        changed = await http.patch(
            url,
            headers=admin,
            json={
                "fields": {"care_level": 3, "notes": "心衰，夜间气促"},
                "contacts": RECORD["contacts"][1:],
            },
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["care_level"] == 3
        assert changed.json()["emergency_contact"] == "李大姐 (邻居) 13700003333"

        history = (await http.get(f"{url}/changes", headers=admin)).json()
        assert [h["action"] for h in history] == ["created", "updated"]
        update = history[1]
        assert set(update["fields"]) == {"care_level", "notes", "contacts", "emergency_contact"}
        assert update["before"]["care_level"] == 0
        assert update["after"]["care_level"] == 3
        assert update["after"]["notes"] == "(changed)"  # the log never copies health notes
        assert update["actor"].startswith("admin-")
        assert (await http.get(f"{url}/changes", headers=street_op)).status_code == 403

        log = (await http.get(f"{url}/access-log", headers=admin)).json()
        assert [(r["role"], r["via"]) for r in log][:1] == [("operator", "screen:board.card")]
        assert (await http.get(f"{url}/access-log", headers=street_op)).status_code == 403


async def test_deactivation_needs_a_reason_and_keeps_the_record(server: RunningServer) -> None:
    db = server.services.db
    admin = bearer(await login(server.http, db, "admin"))
    async with httpx.AsyncClient(base_url=server.http) as http:
        body = {k: v for k, v in RECORD.items() if k not in ("street", "community")}
        body["external_id"] = "HZ-0002"
        elder = (await http.post("/api/v1/elders", headers=admin, json=body)).json()
        url = f"/api/v1/elders/{elder['id']}"
        no_reason = await http.patch(url, headers=admin, json={"active": False})
        assert no_reason.status_code == 422
        off = await http.patch(
            url, headers=admin, json={"active": False, "deactivation_reason": "in_institution"}
        )
        assert off.json()["active"] is False
        assert off.json()["deactivated_at"] is not None
        assert (await http.get(url, headers=admin)).json()[
            "deactivation_reason"
        ] == "in_institution"
        actives = (await http.get("/api/v1/elders", headers=admin, params={"active": True})).json()
        assert elder["id"] not in [e["id"] for e in actives]
        history = (await http.get(f"{url}/changes", headers=admin)).json()
        assert history[-1]["action"] == "deactivated"


async def test_bad_records_are_refused_clearly(server: RunningServer) -> None:
    db = server.services.db
    admin = bearer(await login(server.http, db, "admin"))
    async with httpx.AsyncClient(base_url=server.http) as http:
        await _tree(http, admin)
        unknown = {**RECORD, "external_id": "HZ-9", "street": "无此街道", "community": ""}
        refused = await http.post("/api/v1/elders", headers=admin, json=unknown)
        assert refused.status_code == 422
        assert "unknown area" in refused.text
        bad_id = await http.post(
            "/api/v1/elders", headers=admin, json={**RECORD, "id_number": "12345"}
        )
        assert bad_id.status_code == 422
        rates = {**RECORD, "external_id": "HZ-10", "heart_rate_min": 120, "heart_rate_max": 60}
        assert (await http.post("/api/v1/elders", headers=admin, json=rates)).status_code == 422
        first = await http.post("/api/v1/elders", headers=admin, json=RECORD)
        assert first.status_code == 201
        assert (await http.post("/api/v1/elders", headers=admin, json=RECORD)).status_code == 409
        op_bad_area = await http.post(
            "/api/v1/users",
            headers=admin,
            json={"username": "op.x", "role": "operator", "areas": ["西城区"]},
        )
        assert op_bad_area.status_code == 422
        deeper = await http.post(
            "/api/v1/areas",
            headers=admin,
            json={"name": "x", "parent": "东城区/和平街道/和平里社区"},
        )
        assert deeper.status_code == 422
