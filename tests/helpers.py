"""Small helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
import json
import time as clock
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import time
from typing import TYPE_CHECKING, Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from dispatch.api import browser_session
from dispatch.domain.access import Role
from dispatch.registry import accounts
from dispatch.store.db import Database
from dispatch.store.tables import Caregiver, Device, Elder

if TYPE_CHECKING:
    from playwright.async_api import Page

CENTER = (30.2741, 120.1551)


@dataclass(frozen=True)
class SmallCity:
    elder_id: uuid.UUID
    device_id: str
    wearable_id: str
    near_id: uuid.UUID  # basic care only, 500 m away
    far_id: uuid.UUID  # first aid, 2 km away


def seed_small_city(db: Database) -> SmallCity:
    """One elder with a panic button and a wearable; two caregivers on shift all day."""
    elder = Elder(
        name="王秀英",
        address="和平街道和平里社区3幢2单元301室",
        lat=CENTER[0],
        lon=CENTER[1],
        district="东城区",
    )
    near = Caregiver(
        name="李桂兰",
        skills=["basic_care"],
        shift_start=time(0, 0),
        shift_end=time(23, 59, 59),
        transport="ebike",
        home_lat=CENTER[0] + 0.0045,
        home_lon=CENTER[1],
    )
    far = Caregiver(
        name="张建国",
        skills=["basic_care", "first_aid"],
        shift_start=time(0, 0),
        shift_end=time(23, 59, 59),
        transport="ebike",
        home_lat=CENTER[0] + 0.018,
        home_lon=CENTER[1],
    )
    suffix = uuid.uuid4().hex[:6]
    button = Device(id=f"pb-{suffix}", kind="panic_button", elder_id=elder.id)
    wearable = Device(id=f"wr-{suffix}", kind="wearable", elder_id=elder.id)
    with db.session() as session:
        session.add_all([elder, near, far])
        session.flush()
        session.add_all([button, wearable])
    return SmallCity(elder.id, button.id, wearable.id, near.id, far.id)


async def wait_until(
    check: Callable[[], Awaitable[Any]], timeout_s: float = 10.0, every_s: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = clock.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if clock.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s (last: {result!r})")
        await asyncio.sleep(every_s)


def ws_auth(token: str) -> dict[str, Any]:
    """What a socket client offers to log in: the token in Sec-WebSocket-Protocol."""
    return {"subprotocols": ["carebell.v1", f"bearer.{token}"]}


class LiveClient:
    """A WebSocket client that remembers every message it received."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, token: str) -> LiveClient:
        client = cls(await websockets.connect(url, compression=None, **ws_auth(token)))
        hello = await client.next("hello")
        assert hello["v"] == 1
        return client

    async def next(self, type_: str, timeout_s: float = 10.0, **match: Any) -> dict[str, Any]:
        """The next message of ``type_`` (and matching fields), skipping others."""
        async with asyncio.timeout(timeout_s):
            while True:
                message = json.loads(await self.ws.recv())
                self.received.append(message)
                if message.get("type") == type_ and all(
                    _field(message, k) == v for k, v in match.items()
                ):
                    return message

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def close(self) -> None:
        await self.ws.close()


def _field(message: dict[str, Any], dotted: str) -> Any:
    value: Any = message
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


PASSWORD = "correct horse battery staple"


def make_user(
    db: Database, role: str, *, caregiver_id: uuid.UUID | None = None, areas: tuple[str, ...] = ()
) -> str:
    """Create an account of ``role``; return its user name (the password is PASSWORD)."""
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    accounts.create_user(db, username, PASSWORD, Role(role), caregiver_id=caregiver_id, areas=areas)
    return username


async def login(
    base_url: str,
    db: Database,
    role: str,
    *,
    caregiver_id: uuid.UUID | None = None,
    areas: tuple[str, ...] = (),
) -> str:
    """A bearer token for a new account of ``role``."""
    username = await asyncio.to_thread(make_user, db, role, caregiver_id=caregiver_id, areas=areas)
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(
            "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
        )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def session_cookie(page: Page) -> str:
    """The session token a signed-in page's browser holds (its HttpOnly cookie,
    which only the browser itself, not the page's script, can read)."""
    [cookie] = [c for c in await page.context.cookies() if c.get("name") == browser_session.COOKIE]
    return cookie["value"]
