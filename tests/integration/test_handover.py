"""An operator hands an alert to 120: the sheet to read out, who and when, the
outcome and the ambulance's arrival; the alert stays open until the outcome is in."""

from __future__ import annotations

import asyncio

import httpx

from dispatch.domain.lifecycle import AlertState
from dispatch.store.tables import Alert, Device, Elder, ElderContact
from tests.conftest import RunningServer
from tests.helpers import bearer, login, seed_small_city
from tests.integration.test_operators import add_alert


async def test_a_handover_to_120_is_recorded_and_keeps_the_alert_open_until_its_outcome(
    server: RunningServer,
) -> None:
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)
    fall = add_alert(server, city.wearable_id, "fall", "critical", AlertState.ON_SCENE, 4)
    with db.session() as session:
        elder = session.get(Elder, city.elder_id)
        assert elder is not None
        elder.building, elder.unit, elder.room = "3号楼", "2单元", "301"
        elder.allergies, elder.medicines = "青霉素", "硝苯地平"
        elder.access_notes = "钥匙在邻居赵阿姨家 (302)"
        session.add(elder)
        session.add(
            ElderContact(
                elder_id=elder.id,
                position=0,
                name="赵阿姨",
                relation="邻居",
                role="neighbour",
                phones=["13900000001"],
                key_holder=True,
            )
        )
        wearable = session.get(Device, city.wearable_id)
        assert wearable is not None
        wearable.lat, wearable.lon = 39.9171, 116.4101
        session.add(wearable)
        alert = session.get(Alert, fall)
        assert alert is not None
        alert.elder_id = elder.id
        session.add(alert)
    operator = await login(server.http, db, "operator", areas=("东城区",))
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        me = (await http.get("/api/v1/auth/me")).json()["username"]
        assert (await http.post(f"/api/v1/alerts/{fall}/handover/arrived")).status_code == 409
        bad = await http.post(f"/api/v1/alerts/{fall}/handover", json={"service": "911"})
        assert bad.status_code == 422

        handed = await http.post(f"/api/v1/alerts/{fall}/handover", json={"service": "120"})
        assert handed.status_code == 200, handed.text
        view = handed.json()
        assert view["awaiting_outcome"] is True
        [record] = view["handovers"]
        assert (record["service"], record["handed_by"]) == ("120", me)
        sheet = view["sheet"]
        assert (sheet["elder"]["building"], sheet["elder"]["room"]) == ("3号楼", "301")
        assert sheet["elder"]["allergies"] == "青霉素"
        assert sheet["elder"]["door_access"] == "钥匙在邻居赵阿姨家 (302)"
        assert sheet["device_position"] == {"lat": 39.9171, "lon": 116.4101}
        assert sheet["contacts"][0]["name"] == "赵阿姨"
        assert sheet["contacts"][0]["key_holder"] is True

        # Open until the outcome is in: closing now is refused, and nothing changes.
        early = await http.post(
            f"/api/v1/alerts/{fall}/resolve", json={"code": "real_emergency", "note": ""}
        )
        assert early.status_code == 409
        assert (await http.get(f"/api/v1/alerts/{fall}")).json()["state"] == "on_scene"

        outcome = await http.post(
            f"/api/v1/alerts/{fall}/handover/outcome",
            json={"outcome": "dispatched", "note": "120 sends an ambulance, about 12 min"},
        )
        assert outcome.status_code == 200, outcome.text
        assert outcome.json()["outcome"] == "dispatched"
        arrived = await http.post(f"/api/v1/alerts/{fall}/handover/arrived")
        assert arrived.status_code == 200
        assert arrived.json()["arrived_at"] is not None
        assert (await http.post(f"/api/v1/alerts/{fall}/handover/arrived")).status_code == 409

        timeline = (await http.get(f"/api/v1/alerts/{fall}/audit")).json()
        steps = [r["action"] for r in timeline if r["action"]]
        assert steps[-3:] == ["handed_over", "handover_outcome", "ambulance_arrived"]
        closed = await http.post(
            f"/api/v1/alerts/{fall}/resolve", json={"code": "handed_to_120", "note": "to hospital"}
        )
        assert closed.status_code == 200, closed.text
        again = await http.get(f"/api/v1/alerts/{fall}/handover")
        assert again.json()["awaiting_outcome"] is False
