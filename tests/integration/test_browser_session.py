"""The pages' session: an HttpOnly cookie set by the log-in and cleared by the
log-out, refused to other sites' pages over HTTP and over sockets, beside the
bearer tokens that API clients keep using (docs/access.md)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from tests.conftest import RunningServer
from tests.helpers import PASSWORD, bearer, make_user

SAME = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def _cookie_login(http: httpx.AsyncClient, username: str) -> httpx.Response:
    return await http.post(
        "/api/v1/auth/login",
        json={"username": username, "password": PASSWORD, "session": "cookie"},
        headers={**SAME, "Origin": str(http.base_url).rstrip("/")},
    )


async def test_a_cookie_log_in_sets_an_httponly_cookie_and_no_token(
    server: RunningServer,
) -> None:
    name = await asyncio.to_thread(make_user, server.services.db, "supervisor")
    async with httpx.AsyncClient(base_url=server.http) as http:
        answer = await _cookie_login(http, name)
        assert answer.status_code == 200
        assert answer.json()["token"] is None, "the page's script never sees the token"
        assert answer.json()["user"]["username"] == name
        set_cookie = answer.headers["set-cookie"]
        assert set_cookie.startswith("carebell_session=")
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=43200"):
            assert attribute.lower() in set_cookie.lower()
        # Served over plain HTTP (the loopback demo): Secure would make the browser drop it.
        assert "secure" not in set_cookie.lower()

        # The cookie alone opens the API, for reading and, from the same origin, for changing.
        assert (await http.get("/api/v1/auth/me")).json()["username"] == name
        changed = await http.put("/api/v1/auth/me/locale", json={"locale": "en"}, headers=SAME)
        assert changed.status_code == 200

        # Log-out ends the session and clears the cookie.
        out = await http.post("/api/v1/auth/logout", headers=SAME)
        assert out.status_code == 204
        assert 'carebell_session=""' in out.headers["set-cookie"]
        assert "max-age=0" in out.headers["set-cookie"].lower()
        assert "carebell_session" not in http.cookies
        token = answer.cookies["carebell_session"]
    async with httpx.AsyncClient(base_url=server.http, cookies={"carebell_session": token}) as old:
        assert (await old.get("/api/v1/auth/me")).status_code == 401, "the session is gone"


async def test_a_bearer_log_in_is_unchanged_for_api_clients(server: RunningServer) -> None:
    name = await asyncio.to_thread(make_user, server.services.db, "operator")
    async with httpx.AsyncClient(base_url=server.http) as http:
        answer = await http.post(
            "/api/v1/auth/login", json={"username": name, "password": PASSWORD}
        )
        assert answer.status_code == 200
        assert "set-cookie" not in answer.headers
        token = answer.json()["token"]
        assert (await http.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
        # No Origin, no Sec-Fetch-Site, a bearer token: a script, never refused as cross-origin.
        assert (await http.post("/api/v1/auth/logout", headers=bearer(token))).status_code == 204
        assert (await http.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401


async def test_another_sites_page_cannot_use_the_cookie_to_change_anything(
    server: RunningServer,
) -> None:
    name = await asyncio.to_thread(make_user, server.services.db, "supervisor")
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _cookie_login(http, name)).status_code == 200
        for headers in (
            {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
            {"Origin": "https://evil.example"},  # a browser without fetch metadata
            {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain
        ):
            refused = await http.put(
                "/api/v1/auth/me/locale", json={"locale": "en"}, headers=headers
            )
            assert refused.status_code == 403
            assert refused.json()["detail"].startswith("cross_origin")
            assert (await http.post("/api/v1/auth/logout", headers=headers)).status_code == 403
        # Nothing changed and the session lives on.
        me = (await http.get("/api/v1/auth/me")).json()
        assert me["locale"] == "zh-CN"
        # Another site may not log a browser in either (login CSRF).
        forged = await http.post(
            "/api/v1/auth/login",
            json={"username": name, "password": PASSWORD, "session": "cookie"},
            headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        )
        assert forged.status_code == 403


async def test_sockets_take_the_cookie_from_this_origin_only(server: RunningServer) -> None:
    name = await asyncio.to_thread(make_user, server.services.db, "supervisor")
    async with httpx.AsyncClient(base_url=server.http) as http:
        await _cookie_login(http, name)
        token = http.cookies["carebell_session"]
    cookie = {"Cookie": f"carebell_session={token}"}

    async with websockets.connect(
        f"{server.ws}/ws/v1/board", additional_headers=cookie, origin=Origin(server.http)
    ) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "hello", "the cookie alone opened the board"

    async with websockets.connect(
        f"{server.ws}/ws/v1/board",
        additional_headers=cookie,
        origin=Origin("https://evil.example"),
    ) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    assert closed.value.rcvd.reason.startswith("cross_origin")
