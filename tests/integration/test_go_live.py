"""A bureau goes live through the API alone: from an empty install to a press
dispatched to the right caregiver (the browser version of this is still to come)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import httpx
from openpyxl import Workbook

from dispatch.domain.access import Role
from dispatch.registry import accounts
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import CENTER, LiveClient, bearer, wait_until

OWN = "Brass-otter-lantern-71"


async def first_log_in(http: httpx.AsyncClient, username: str, once: str) -> dict[str, str]:
    token = (
        await http.post("/api/v1/auth/login", json={"username": username, "password": once})
    ).json()["token"]
    changed = await http.post(
        "/api/v1/auth/password",
        headers=bearer(token),
        json={"current_password": once, "new_password": OWN},
    )
    assert changed.status_code == 200, changed.text
    return bearer(token)


def elders_xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        [
            "external_id",
            "name",
            "address",
            "lat",
            "lon",
            "district",
            "street",
            "living_situation",
            "contact1_name",
            "contact1_phones",
            "access_notes",
        ]
    )
    sheet.append(
        [
            "HP-001",
            "赵淑华",
            "和平里8幢502室",
            CENTER[0],
            CENTER[1],
            "东城区",
            "和平街道",
            "alone",
            "赵敏",
            "13900001111",
            "门禁 1234#",
        ]
    )
    sheet.append(
        [
            "HP-002",
            "钱桂英",
            "和平里2幢",
            CENTER[0] + 0.001,
            CENTER[1],
            "东城区",
            "无此街道",
            "alone",
            "",
            "",
        ]
    )  # the bad row: an unknown street
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_from_an_empty_install_to_a_press_dispatched_to_the_right_caregiver(
    server: RunningServer, publisher: DevicePublisher
) -> None:
    db = server.services.db
    # 1. The first administrator, as `carebell users add chief --role admin` makes it.
    new = accounts.NewAccount("chief", Role.ADMIN)
    _user, once = await asyncio.to_thread(accounts.add_account, db, new, now=datetime.now(UTC))
    assert once is not None
    async with httpx.AsyncClient(base_url=server.http) as http:
        admin = await first_log_in(http, "chief", once)

        # 2. Areas, a provider and its station.
        for name, parent in [("杭州市", None), ("东城区", "*"), ("和平街道", "东城区")]:
            made = await http.post(
                "/api/v1/areas", headers=admin, json={"name": name, "parent": parent}
            )
            assert made.status_code == 201
        provider = (
            await http.post("/api/v1/providers", headers=admin, json={"name": "和平居家养老"})
        ).json()
        station = (
            await http.post(
                "/api/v1/facilities",
                headers=admin,
                json={
                    "name": "和平站",
                    "kind": "station",
                    "provider_id": provider["id"],
                    "lat": CENTER[0],
                    "lon": CENTER[1],
                },
            )
        ).json()

        # 3. Caregivers from a CSV; their certificates and shifts. The nearer one's
        # first-aid certificate expired yesterday.
        csv_rows = (
            "external_id,name,skills,shift_start,shift_end,home_lat,home_lon\n"
            f"CG-NEAR,李桂兰,basic_care;first_aid,00:00,23:59:59,{CENTER[0]},{CENTER[1]}\n"
            f"CG-FAR,张建国,basic_care;first_aid,00:00,23:59:59,{CENTER[0]},{CENTER[1]}\n"
        ).encode()
        report = (
            await http.post("/api/v1/caregivers/import", headers=admin, content=csv_rows)
        ).json()
        assert report["created"] == 2
        ids = {r["external_id"]: r["id"] for r in report["rows"]}
        today = datetime.now(UTC).date()
        every_day = {str(d): ["00:00", "23:59:59"] for d in range(1, 8)}
        for key, expires in [
            ("CG-NEAR", today - timedelta(days=2)),
            ("CG-FAR", today + timedelta(days=365)),
        ]:
            changed = await http.patch(
                f"/api/v1/caregivers/{ids[key]}",
                headers=admin,
                json={
                    "provider_id": provider["id"],
                    "station_id": station["id"],
                    "weekly_shifts": every_day,
                    "certificates": [{"skill": "first_aid", "expires_on": expires.isoformat()}],
                },
            )
            assert changed.status_code == 200, changed.text

        # 4. Elders from an XLSX file: one bad row reported, the other in.
        imported = (
            await http.post("/api/v1/elders/import", headers=admin, content=elders_xlsx())
        ).json()
        assert (imported["created"], imported["failed"]) == (1, 1)
        assert "unknown area" in next(r for r in imported["rows"] if r["line"] == 3)["error"]
        elder_id = next(r["id"] for r in imported["rows"] if r["line"] == 2)

        # 5. An assessment sets the care level.
        scale = (await http.get("/api/v1/assessment-scale", headers=admin)).json()
        scores = {i["code"]: i["max_score"] for ind in scale["indicators"] for i in ind["items"]}
        scores["stairs"] = scores["walking"] = 0  # 82: mildly impaired
        assessed = await http.post(
            f"/api/v1/elders/{elder_id}/assessments",
            headers=admin,
            json={"assessed_on": today.isoformat(), "assessor": "张敏", "scores": scores},
        )
        assert assessed.json()["care_level"] == 1

        # 6. The elder's wearable, and the caregivers' accounts on their phones.
        device = await http.post(
            "/api/v1/devices",
            headers=admin,
            json={"id": "wr-hp-001", "kind": "wearable", "elder_id": elder_id},
        )
        assert device.status_code == 201
        phones: dict[str, LiveClient] = {}
        tokens: dict[str, str] = {}
        for key, north in [("CG-NEAR", 0.002), ("CG-FAR", 0.012)]:
            issued = (
                await http.post(
                    "/api/v1/users",
                    headers=admin,
                    json={"username": key.lower(), "role": "caregiver", "caregiver_id": ids[key]},
                )
            ).json()
            token = (await first_log_in(http, key.lower(), issued["one_time_password"]))[
                "Authorization"
            ].split(" ", 1)[1]
            phone = await LiveClient.connect(f"{server.ws}/ws/v1/caregivers/{ids[key]}", token)
            await phone.send(type="position", lat=CENTER[0] + north, lon=CENTER[1])
            phones[key] = phone
            tokens[key] = token
        bus = server.services.bus
        await wait_until(lambda: bus.nearby(CENTER[0], CENTER[1], 5000, 50))
        await wait_until(lambda: _both_seen(bus), timeout_s=10)

    # 7. A fall needs first aid: the farther caregiver, whose certificate is valid, goes.
    await asyncio.to_thread(publisher.publish_event, "wr-hp-001", "fall")
    far = phones["CG-FAR"]
    offer = await far.next("order.offered")
    assert offer["alert"]["alert_type"] == "fall"
    assert not [m for m in phones["CG-NEAR"].received if m["type"] == "order.offered"]
    # The door code reaches the caregiver only once they are on their way.
    assert offer["elder"]["access_notes"] == ""
    order_id = offer["order"]["id"]
    for action in ("accept", "en_route"):
        await far.send(type="action", action=action, order_id=order_id, ref=action)
        await far.next("reply", ref=action)
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(tokens["CG-FAR"])) as http:
        [mine] = (await http.get("/api/v1/me/orders")).json()
    assert mine["elder"]["access_notes"] == "门禁 1234#"
    for phone in phones.values():
        await phone.close()


async def _both_seen(bus: object) -> bool:
    found = await bus.nearby(CENTER[0], CENTER[1], 5000, 50)  # type: ignore[attr-defined]
    return len(found) >= 2
