"""Capability assessments through the API: scored, kept, the latest sets the care level."""

from __future__ import annotations

import httpx

from tests.conftest import RunningServer
from tests.helpers import bearer, login

ELDER = {
    "name": "陈淑珍",
    "address": "和平里5幢",
    "lat": 30.28,
    "lon": 120.16,
    "district": "东城区",
}


async def test_an_assessment_sets_the_care_level_and_keeps_its_history(
    server: RunningServer,
) -> None:
    db = server.services.db
    admin = bearer(await login(server.http, db, "admin"))
    operator = bearer(await login(server.http, db, "operator", areas=("东城区",)))
    outside = bearer(await login(server.http, db, "operator", areas=("西城区",)))
    async with httpx.AsyncClient(base_url=server.http) as http:
        scale = (await http.get("/api/v1/assessment-scale", headers=operator)).json()
        assert scale["standard"] == "GB/T 42195-2022"
        assert scale["verified"] is False
        items = [i for ind in scale["indicators"] for i in ind["items"]]
        elder = (await http.post("/api/v1/elders", headers=admin, json=ELDER)).json()
        url = f"/api/v1/elders/{elder['id']}/assessments"

        scores = {i["code"]: i["max_score"] for i in items}
        scores["walking"], scores["stairs"], scores["bathing"] = 1, 0, 2  # 90 - 9 = 81
        body = {"assessed_on": "2026-11-20", "assessor": "评估员 张敏", "scores": scores}
        made = await http.post(url, headers=admin, json=body)
        assert made.status_code == 201, made.text
        assert made.json()["total"] == 81
        assert made.json()["grade"] == "mild"
        assert made.json()["next_due"] == "2027-11-20"
        record = (await http.get(f"/api/v1/elders/{elder['id']}", headers=admin)).json()
        assert record["care_level"] == 1

        # An older assessment entered later is history, not the current grade.
        older = {**body, "assessed_on": "2025-10-01", "scores": dict.fromkeys(scores, 0)}
        assert (await http.post(url, headers=admin, json=older)).status_code == 201
        seen = (await http.get(url, headers=operator)).json()
        assert [a["assessed_on"] for a in seen["history"]] == ["2026-11-20", "2025-10-01"]
        assert seen["grade"] == "mild"
        assert seen["care_level"] == 1
        assert seen["next_due"] == "2027-11-20"
        changes = (await http.get(f"/api/v1/elders/{elder['id']}/changes", headers=admin)).json()
        assert changes[-1]["action"] == "assessed"
        assert changes[-1]["after"] == {"care_level": 1}

        partial = {**body, "scores": {"eating": 4}}
        refused = await http.post(url, headers=admin, json=partial)
        assert refused.status_code == 422
        assert "walking: not answered" in refused.text
        assert (await http.post(url, headers=operator, json=body)).status_code == 403
        assert (await http.get(url, headers=outside)).status_code == 404
