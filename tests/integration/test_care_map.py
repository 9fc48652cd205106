"""The care map's API on real services: elders with their signals, the caregivers on
shift, the 15-minute circle they reach, and the what-if staffing table."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import httpx

from dispatch.domain.lifecycle import VisitState
from dispatch.store.db import Database
from dispatch.store.tables import Caregiver, Device, Elder, Facility, Visit
from tests.conftest import RunningServer
from tests.helpers import bearer, login

# Far from every other test's city centre, so nobody else's caregivers reach here.
HOME = (31.5, 121.0)
M_PER_DEG_LAT = 111_195.0


@dataclass(frozen=True)
class Town:
    district: str
    near: uuid.UUID  # 1 km from the caregiver's station
    far: uuid.UUID  # 10 km away
    visited: uuid.UUID  # near too, visited last week


def _north(metres: float) -> tuple[float, float]:
    return HOME[0] + metres / M_PER_DEG_LAT, HOME[1]


def seed_town(db: Database) -> Town:
    district = f"测试区{uuid.uuid4().hex[:4]}"

    def elder(name: str, metres: float, **kw: object) -> Elder:
        lat, lon = _north(metres)
        return Elder(name=name, address="一号楼", lat=lat, lon=lon, district=district,
                     street="和平街道", **kw)  # type: ignore[arg-type]  # fmt: skip

    near = elder("王秀英", 1000, living_situation="alone", hardship=["特困供养"], care_level=3)
    far = elder("孙凤英", 10_000)
    visited = elder("赵玉兰", 1200)
    carer = Caregiver(
        name="陈静", skills=["basic_care"], shift_start=time(0, 0), shift_end=time(23, 59, 59),
        transport="ebike", home_lat=HOME[0] + 1, home_lon=HOME[1],  # home is far...
        station_lat=HOME[0], station_lon=HOME[1],  # ...the station is where it waits
    )  # fmt: skip
    station = Facility(name="和平里驿站", kind="station", lat=HOME[0], lon=HOME[1])
    last_week = datetime.now(UTC).date() - timedelta(days=7)
    with db.session() as session:
        session.add_all([near, far, visited, carer, station])
        session.flush()
        session.add(Device(id=f"w-{uuid.uuid4().hex[:8]}", kind="wearable", elder_id=near.id,
                           worn=False, online=True))  # fmt: skip
        start = datetime.combine(last_week, time(1, 0), tzinfo=UTC)
        session.add_all([
            Visit(elder_id=visited.id, service="meal_assist", day=last_week, window_start=start,
                  window_end=start + timedelta(hours=2), state=VisitState.DONE),
            Visit(elder_id=far.id, service="meal_assist", day=last_week, window_start=start,
                  window_end=start + timedelta(hours=2), state=VisitState.MISSED,
                  exception="nobody_home"),
        ])  # fmt: skip
    return Town(district, near.id, far.id, visited.id)


async def test_care_map_shows_signals_and_the_circle(server: RunningServer) -> None:
    town = await asyncio.to_thread(seed_town, server.services.db)
    supervisor = await login(server.http, server.services.db, "supervisor")
    operator = await login(server.http, server.services.db, "operator")
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        response = await http.get("/api/v1/reports/map")
        table = await http.get("/api/v1/reports/map/what-if", params={"hours": "3,10"})
        for bad in ({"hours": "25"}, {"hours": "x"}, {"target": "0"}, {"target": "2"},
                    {"day": "2026-02-30"}):  # fmt: skip
            r = await http.get("/api/v1/reports/map/what-if", params=bad)
            assert r.status_code == 422, bad
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        assert (await http.get("/api/v1/reports/map")).status_code == 403
    assert response.status_code == 200, response.text
    body = response.json()
    elders = {e["id"]: e for e in body["elders"]}
    near, far, visited = elders[str(town.near)], elders[str(town.far)], elders[str(town.visited)]
    # By e-bike from the station: 1 km is 305 s, 10 km 2,515 s.
    assert near["within"] is True
    assert 300 < near["reach_s"] < 310
    assert far["within"] is False
    assert (near["alone"], near["hardship"], near["care_level"]) == (True, ["特困供养"], 3)
    assert near["risks"] == ["no_contact_30d", "not_worn"]
    assert far["risks"] == ["no_contact_30d", "nobody_home"]
    assert visited["risks"] == []
    [district] = [d for d in body["districts"] if d["district"] == town.district]
    assert (district["elders"], district["within"], district["share"]) == (3, 2, 0.6667)
    assert any(c["name"] == "陈静" and c["position"] == "station" for c in body["caregivers"])
    assert any(f["name"] == "和平里驿站" for f in body["facilities"])

    assert table.status_code == 200, table.text
    [street] = [s for s in table.json()["streets"] if s["district"] == town.district]
    assert street["elders"] == 3
    for cell in street["hours"]:
        # 陈静 reaches two of three (67 %); one more at the far elder's home makes 100 %;
        # from scratch, two at the elders' homes reach all three.
        assert (cell["reaching"], cell["share"], cell["more_needed"]) == (1, 0.6667, 1)
        assert cell["needed"] == 2
    assert [c["hour"] for c in street["hours"]] == [3, 10]
