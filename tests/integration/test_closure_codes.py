"""Closing an alert asks why: a code from the configured list, kept on the alert,
on its timeline and in today's KPIs."""

from __future__ import annotations

import asyncio

import httpx

from dispatch.domain.lifecycle import AlertState
from tests.conftest import RunningServer
from tests.helpers import bearer, login, seed_small_city
from tests.integration.test_operators import add_alert


async def test_resolve_and_cancel_take_a_configured_closure_code(server: RunningServer) -> None:
    city = await asyncio.to_thread(seed_small_city, server.services.db)
    fall = add_alert(server, city.wearable_id, "fall", "critical", AlertState.ON_SCENE, 5)
    press = add_alert(server, city.device_id, "help_button", "high", AlertState.ESCALATED, 3)
    operator = await login(server.http, server.services.db, "operator", areas=("东城区",))
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        codes = (await http.get("/api/v1/board/closure-codes")).json()
        by_code = {c["code"]: c for c in codes}
        assert by_code["fall_no_injury"]["label_zh"] == "跌倒未受伤"
        assert {"false_alarm", "accidental_press", "test", "device_fault"} <= set(by_code)

        # No code, or one not in the list: a clear 422, and the alert stays open.
        missing = await http.post(f"/api/v1/alerts/{fall}/resolve", json={"note": "fine"})
        assert missing.status_code == 422
        unknown = await http.post(
            f"/api/v1/alerts/{fall}/resolve", json={"code": "ufo", "note": "fine"}
        )
        assert unknown.status_code == 422
        assert "ufo" in unknown.json()["detail"]
        assert "fall_no_injury" in unknown.json()["detail"]
        assert (await http.get(f"/api/v1/alerts/{fall}")).json()["state"] == "on_scene"

        done = await http.post(
            f"/api/v1/alerts/{fall}/resolve",
            json={"code": "fall_no_injury", "note": "helped up, no pain"},
        )
        assert done.status_code == 200, done.text
        assert done.json()["closure_code"] == "fall_no_injury"
        assert done.json()["closure_note"] == "helped up, no pain"
        timeline = (await http.get(f"/api/v1/alerts/{fall}/audit")).json()
        closing = [r for r in timeline if r["entity"] == "alert" and r["to_state"] == "resolved"]
        assert closing
        assert closing[-1]["detail"]["code"] == "fall_no_injury"

        no_reason = await http.post(f"/api/v1/alerts/{press}/cancel", json={"code": "test"})
        assert no_reason.status_code == 422
        cancelled = await http.post(
            f"/api/v1/alerts/{press}/cancel",
            json={"code": "accidental_press", "reason": "pressed while cleaning"},
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["state"] == "cancelled"
        assert cancelled.json()["closure_code"] == "accidental_press"

        kpis = (await http.get("/api/v1/kpis/today")).json()
        assert kpis["closed_by_code"] == {"fall_no_injury": 1, "accidental_press": 1}
