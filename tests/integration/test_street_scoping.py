"""Operators scoped below a district (a street, a community) see what lies there:
its elders, their alerts on the API, the board's lists and stream, their offline
devices; and nothing of the district's other streets, nor of a street of the same
name elsewhere. The SQL filter is checked against the domain's rule in
test_area_filter.py."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import select

from dispatch.domain.areas import Place
from dispatch.store.db import Database
from dispatch.store.tables import Device, Elder
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import CENTER, bearer, login, wait_until

STREET = "东城区/和平街道"
PLACES = {
    "community": Place("东城区", "和平街道", "和平里社区"),  # under STREET
    "street": Place("东城区", "和平街道"),  # under STREET
    "other_street": Place("东城区", "望湖街道"),
    "district_only": Place("东城区"),  # known only to its district
    "same_name_elsewhere": Place("西城区", "和平街道"),
}
OURS = {"community", "street"}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@dataclass
class Town:
    elders: dict[str, uuid.UUID]  # by the PLACES key
    devices: dict[str, str]


def _seed(db: Database) -> Town:
    elders, devices = {}, {}
    with db.session() as session:
        for i, (name, place) in enumerate(PLACES.items()):
            elder = Elder(
                name=f"老人{i}",
                address=f"{place.key} {i}号",
                lat=CENTER[0] + 0.001 * i,
                lon=CENTER[1],
                district=place.district,
                street=place.street,
                community=place.community,
            )
            session.add(elder)
            session.flush()
            device = Device(id=f"pb-{name}-{uuid.uuid4().hex[:4]}", kind="panic_button")
            device.elder_id = elder.id
            session.add(device)
            elders[name], devices[name] = elder.id, device.id
    return Town(elders, devices)


async def _alerts(http: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[Any]:
    response = await http.get("/api/v1/alerts", headers=headers, params=params)
    assert response.status_code == 200, response.text
    listed: list[Any] = response.json()
    return listed


async def test_a_street_operator_sees_their_streets_alerts_and_no_others(
    server: RunningServer, publisher: DevicePublisher
) -> None:
    town = await asyncio.to_thread(_seed, server.services.db)
    street_op = bearer(await login(server.http, server.services.db, "operator", areas=(STREET,)))
    supervisor = bearer(await login(server.http, server.services.db, "supervisor"))
    for device_id in town.devices.values():
        await asyncio.to_thread(publisher.publish_event, device_id, "press")
    async with httpx.AsyncClient(base_url=server.http) as http:

        async def all_raised() -> list[Any] | None:
            found = await _alerts(http, supervisor)
            return found if len(found) == len(PLACES) else None

        everything = await wait_until(all_raised)
        by_elder = {a["elder_id"]: a for a in everything}
        ids = {name: by_elder[str(town.elders[name])]["id"] for name in PLACES}
        # Each alert keeps where its elder lives (the ingest wrote it from the elder).
        for name, place in PLACES.items():
            alert = by_elder[str(town.elders[name])]
            assert (alert["district"], alert["street"], alert["community"]) == place.levels

        # The API's list, as the board asks for its queue, and one by one.
        mine = await _alerts(http, street_op)
        assert {a["id"] for a in mine} == {ids[n] for n in OURS}
        queue = await _alerts(http, street_op, sort="urgency", status=["escalated", "raised"])
        assert {a["id"] for a in queue} <= {ids[n] for n in OURS}
        for name in PLACES:
            one = await http.get(f"/api/v1/alerts/{ids[name]}", headers=street_op)
            assert one.status_code == (200 if name in OURS else 403), name
            card = await http.get(f"/api/v1/alerts/{ids[name]}/card", headers=street_op)
            assert card.status_code == (200 if name in OURS else 403), name
        answered = await http.get("/api/v1/board/answered", headers=street_op)
        assert {a["alert_id"] for a in answered.json()} <= {ids[n] for n in OURS}
        # A paged list is a page of what the operator may see, not of everything.
        first = await _alerts(http, street_op, limit=1)
        second = await _alerts(http, street_op, limit=1, offset=1)
        assert {first[0]["id"], second[0]["id"]} == {ids[n] for n in OURS}
        # The reports' history filters by the same place.
        history = await http.get("/api/v1/reports/alerts", headers=street_op)
        assert history.status_code == 200, history.text
        assert {r["alert_id"] for r in history.json()["items"]} == {ids[n] for n in OURS}


async def test_a_street_operators_board_stream_carries_only_their_street(
    server: RunningServer, publisher: DevicePublisher
) -> None:
    from tests.helpers import LiveClient

    town = await asyncio.to_thread(_seed, server.services.db)
    token = await login(server.http, server.services.db, "operator", areas=(STREET,))
    board = await LiveClient.connect(f"{server.ws}/ws/v1/board", token)
    try:
        # Everybody else's first, then ours: the stream is in order, so anything of
        # theirs that reached this board did so before our last alert.
        last = "community"
        for name in [n for n in PLACES if n != last]:
            await asyncio.to_thread(publisher.publish_event, town.devices[name], "press")
        await asyncio.sleep(0.5)  # not a timing: only to let them be stored first
        await asyncio.to_thread(publisher.publish_event, town.devices[last], "press")
        await board.next("alert.raised", alert__elder_id=str(town.elders[last]))
    finally:
        await board.close()
    seen = {m["alert"]["elder_id"] for m in board.received if "alert" in m}
    assert seen == {str(town.elders[n]) for n in OURS}


async def test_a_street_operator_sees_their_streets_elders_and_offline_devices(
    server: RunningServer,
) -> None:
    town = await asyncio.to_thread(_seed, server.services.db)

    def all_offline() -> None:
        with server.services.db.session() as session:
            for device in session.exec(select(Device)).all():
                device.online = False
                session.add(device)

    await asyncio.to_thread(all_offline)
    street_op = bearer(await login(server.http, server.services.db, "operator", areas=(STREET,)))
    async with httpx.AsyncClient(base_url=server.http, headers=street_op) as http:
        offline = (await http.get("/api/v1/map/devices-offline")).json()
        assert {d["device_id"] for d in offline} == {town.devices[n] for n in OURS}
        kpis = (await http.get("/api/v1/kpis/today")).json()
        assert kpis["devices_offline"] == len(OURS)
        extents = (await http.get("/api/v1/map/areas")).json()
        assert [(e["district"], e["elders"]) for e in extents] == [("东城区", len(OURS))]
        # The elders' list is filtered and paged in the database.
        pages = [
            (await http.get("/api/v1/elders", params={"limit": 1, "offset": i})).json()
            for i in range(3)
        ]
    assert [len(p) for p in pages] == [1, 1, 0]
    assert {p[0]["id"] for p in pages[:2]} == {str(town.elders[n]) for n in OURS}
