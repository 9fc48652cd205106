"""What a black-box probe sent to get 500s and silent closes: each now gets a
clear 4xx (or a documented close code), and no answer echoes a password."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets

from tests.conftest import RunningServer
from tests.helpers import bearer, login, ws_auth


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_json_numbers_nothing_can_store_are_422_even_at_log_in(
    server: RunningServer, number: str
) -> None:
    token = await login(server.http, server.services.db, "supervisor")
    async with httpx.AsyncClient(base_url=server.http) as http:
        login_body = f'{{"username": "sup", "password": {number}}}'
        anonymous = await http.post(
            "/api/v1/auth/login",
            content=login_body,
            headers={"content-type": "application/json"},
        )
        assert anonymous.status_code == 422
        body = f'{{"elder_id": "00000000-0000-0000-0000-000000000000", "lat": {number}}}'
        signed_in = await http.post(
            "/api/v1/service-requests",
            content=body,
            headers={**bearer(token), "content-type": "application/json"},
        )
        assert signed_in.status_code == 422
        assert "detail" in signed_in.json()


async def test_a_body_over_the_cap_is_413_and_never_echoed(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        huge = await http.post(
            "/api/v1/auth/login", json={"username": "x", "password": "p" * 5_000_000}
        )
        assert huge.status_code == 413
        assert len(huge.content) < 200
        long = await http.post(
            "/api/v1/auth/login", json={"username": "x", "password": "secret-" + "p" * 300}
        )
        assert long.status_code == 422
        assert "secret-" not in long.text  # what was wrong, never the value


async def test_query_values_out_of_range_are_422(server: RunningServer) -> None:
    token = bearer(await login(server.http, server.services.db, "supervisor"))
    async with httpx.AsyncClient(base_url=server.http, headers=token) as http:
        for path in [
            f"/api/v1/alerts?offset={2**63}",
            f"/api/v1/devices?offset={2**63}",
            "/api/v1/reports/statements?month=0000-01",
            "/api/v1/elders?q=%00",
        ]:
            answer = await http.get(path)
            assert answer.status_code == 422, (path, answer.status_code, answer.text[:200])


async def test_since_far_in_the_future_is_answered(server: RunningServer) -> None:
    token = bearer(await login(server.http, server.services.db, "supervisor"))
    async with httpx.AsyncClient(base_url=server.http, headers=token) as http:
        answer = await http.get("/api/v1/alerts", params={"since": "9999-12-31T23:59:59+00:00"})
    assert answer.status_code in (200, 422), answer.text[:200]


async def test_a_board_seq_redis_cannot_hold_is_closed_4400(server: RunningServer) -> None:
    token = await login(server.http, server.services.db, "supervisor")
    url = f"{server.ws}/ws/v1/board?last_seq=99999999999999999999-0"
    async with websockets.connect(url, **ws_auth(token)) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400


async def test_a_binary_frame_on_a_socket_is_answered_not_dropped(
    server: RunningServer,
) -> None:
    token = await login(server.http, server.services.db, "supervisor")
    async with websockets.connect(f"{server.ws}/ws/v1/board", **ws_auth(token)) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send(b"\x00\xff binary")
        await ws.send(b"\x00\xff binary")
        await ws.ping()
        assert ws.state is websockets.protocol.State.OPEN
