"""Each role against what it must not reach: clear 401s and 403s."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import websockets
from sqlmodel import select

from dispatch.domain.lifecycle import AlertState
from dispatch.store.tables import Alert, Device, Elder, SessionToken
from tests.conftest import RunningServer
from tests.helpers import PASSWORD, bearer, login, make_user, seed_small_city, ws_auth
from tests.integration.test_operators import add_alert


async def ws_close_code(
    url: str, token: str | None = None, first: str | bytes | None = None
) -> int:
    """The close code the server ends a socket with (it must end it within 5 s of
    the last message); ``token`` goes in Sec-WebSocket-Protocol, ``first`` is sent."""
    async with websockets.connect(url, **(ws_auth(token) if token else {})) as ws:
        if first is not None:
            await ws.send(first)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else -1


async def test_no_or_bad_token_is_401_everywhere(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        for path in ["/api/v1/alerts", "/api/v1/elders", "/api/v1/kpis/today", "/api/v1/me/orders"]:
            assert (await http.get(path)).status_code == 401, path
            bad = await http.get(path, headers=bearer("not-a-token"))
            assert bad.status_code == 401, path
        assert (await http.get("/healthz")).status_code == 200
        wrong = await http.post("/api/v1/auth/login", json={"username": "x", "password": "y"})
        assert wrong.status_code == 401
    board = f"{server.ws}/ws/v1/board"
    assert await ws_close_code(board, first='{"type": "hello"}') == 4401
    assert await ws_close_code(board, first=b"\x00\x01") == 4401
    assert await ws_close_code(board, token="forged") == 4401
    assert await ws_close_code(board, first='{"type": "auth", "token": "forged"}') == 4401


async def test_a_token_in_the_url_is_refused_and_the_header_or_first_message_work(
    server: RunningServer,
) -> None:
    token = await login(server.http, server.services.db, "supervisor")
    board = f"{server.ws}/ws/v1/board"
    assert await ws_close_code(f"{board}?token={token}") == 4400
    assert await ws_close_code(f"{board}?token={token}", token=token) == 4400
    async with websockets.connect(board, **ws_auth(token)) as ws:
        assert ws.subprotocol == "carebell.v1"  # the token is never echoed back
        assert json.loads(await ws.recv())["type"] == "hello"
    async with websockets.connect(board) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "hello"


async def _until_closed(ws: websockets.ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 5)


async def _until_closed(ws: websockets.ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 5)


async def test_an_open_socket_closes_when_its_session_ends(server: RunningServer) -> None:
    db = server.services.db
    token = await login(server.http, db, "supervisor")
    async with websockets.connect(f"{server.ws}/ws/v1/board", **ws_auth(token)) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        async with httpx.AsyncClient(base_url=server.http) as http:
            assert (
                await http.post("/api/v1/auth/logout", headers=bearer(token))
            ).status_code == 204
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _until_closed(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401

    # A session that expires while its socket is open.
    other = await login(server.http, db, "supervisor")
    with db.session() as session:
        for row in session.exec(select(SessionToken)).all():
            row.expires_at = datetime.now(UTC) + timedelta(seconds=2)
            session.add(row)
    assert await ws_close_code(f"{server.ws}/ws/v1/board", token=other) == 4401


async def test_logout_and_expiry_end_a_session(server: RunningServer) -> None:
    db = server.services.db
    async with httpx.AsyncClient(base_url=server.http) as http:
        name = await asyncio.to_thread(make_user, db, "supervisor")
        token = (
            await http.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
        ).json()["token"]
        assert (await http.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
        await http.post("/api/v1/auth/logout", headers=bearer(token))
        assert (await http.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401

        other = await login(server.http, db, "supervisor")
        with db.session() as session:
            for row in session.exec(select(SessionToken)).all():
                row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
                session.add(row)
        assert (await http.get("/api/v1/auth/me", headers=bearer(other))).status_code == 401


async def test_caregiver_sees_only_their_own(server: RunningServer) -> None:
    city = await asyncio.to_thread(seed_small_city, server.services.db)
    token = await login(server.http, server.services.db, "caregiver", caregiver_id=city.near_id)
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(token)) as http:
        for path in ["/api/v1/alerts", "/api/v1/elders", "/api/v1/orders", "/api/v1/kpis/today"]:
            response = await http.get(path)
            assert response.status_code == 403, path
            assert "caregiver may not" in response.json()["detail"]
        assert (await http.get("/api/v1/me/orders")).json() == []
    assert await ws_close_code(f"{server.ws}/ws/v1/board", token=token) == 4403
    other = f"{server.ws}/ws/v1/caregivers/{city.far_id}"
    assert await ws_close_code(other, token=token) == 4403


async def test_operator_sees_only_their_areas(server: RunningServer) -> None:
    city = await asyncio.to_thread(seed_small_city, server.services.db)
    east = add_alert(server, city.device_id, "door_bell", "medium", AlertState.OFFERED, 1)
    token = await login(server.http, server.services.db, "operator", areas=("西城区",))
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(token)) as http:
        assert (await http.get("/api/v1/alerts")).json() == []
        assert (await http.get(f"/api/v1/alerts/{east}")).status_code == 403
        assert (await http.post(f"/api/v1/alerts/{east}/acknowledge")).status_code == 403
        assert (await http.get(f"/api/v1/alerts/{east}/card")).status_code == 403
        # The registry is read-only to operators.
        created = await http.post("/api/v1/devices", json={"id": "pb-op", "kind": "panic_button"})
        assert created.status_code == 403
    admin = await login(server.http, server.services.db, "admin")
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(admin)) as http:
        created = await http.post("/api/v1/devices", json={"id": "pb-op", "kind": "panic_button"})
        assert created.status_code == 201


async def test_operator_board_stream_carries_only_their_areas(server: RunningServer) -> None:
    city = await asyncio.to_thread(seed_small_city, server.services.db)
    token = await login(server.http, server.services.db, "operator", areas=("西城区",))
    admin = await login(server.http, server.services.db, "supervisor")
    async with websockets.connect(f"{server.ws}/ws/v1/board", **ws_auth(token)) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        east = add_alert(server, city.device_id, "door_bell", "medium", AlertState.ESCALATED, 1)
        west = add_alert(server, city.device_id, "door_bell", "medium", AlertState.ESCALATED, 1)
        with server.services.db.session() as session:
            row = session.get(Alert, west)
            assert row is not None
            row.district = "西城区"
            session.add(row)
        async with httpx.AsyncClient(base_url=server.http, headers=bearer(admin)) as http:
            await http.post(
                "/api/v1/alerts/acknowledge", json={"alert_ids": [str(east), str(west)]}
            )
        seen = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert seen["type"] == "alert.acknowledged"
    assert seen["alert"]["id"] == str(west)  # the eastern one never reached this board


async def test_an_operator_of_one_district_sees_its_offline_devices_in_a_big_city(
    server: RunningServer,
) -> None:
    """The map's offline devices are limited to 2,000: the operator's own districts
    are chosen before the limit, not after it."""
    city = await asyncio.to_thread(seed_small_city, server.services.db)

    def a_big_city_offline_elsewhere() -> None:
        with server.services.db.session() as session:
            west = Elder(name="张伟", address="西城区", lat=30.27, lon=120.15, district="西城区")
            session.add(west)
            session.flush()
            for i in range(2001):
                session.add(
                    Device(id=f"pb-w{i:05d}", kind="panic_button", elder_id=west.id, online=False)
                )
            own = session.get(Device, city.device_id)
            assert own is not None
            own.online = False
            session.add(own)
            session.commit()

    await asyncio.to_thread(a_big_city_offline_elsewhere)
    token = await login(server.http, server.services.db, "operator", areas=("东城区",))
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(token)) as http:
        offline = (await http.get("/api/v1/map/devices-offline")).json()
    assert [d["device_id"] for d in offline] == [city.device_id]
