"""A caregiver socket that floods positions: the board gets the latest, not the flood,
and an operator's socket stays connected."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.conftest import RunningServer
from tests.helpers import LiveClient, login, seed_small_city, wait_until, ws_auth


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def test_a_position_flood_reaches_the_board_thinned_and_ending_at_the_latest(
    server: RunningServer,
) -> None:
    db, bus = server.services.db, server.services.bus
    city = await asyncio.to_thread(seed_small_city, db)
    caregiver = await login(server.http, db, "caregiver", caregiver_id=city.near_id)
    operator = await login(server.http, db, "supervisor")
    board = await LiveClient.connect(f"{server.ws}/ws/v1/board", operator)
    url = f"{server.ws}/ws/v1/caregivers/{city.near_id}"
    async with websockets.connect(url, **ws_auth(caregiver)) as phone:
        assert json.loads(await phone.recv())["type"] == "hello"
        for i in range(2000):
            lat = 30.0 + i / 100_000
            await phone.send(json.dumps({"type": "position", "lat": lat, "lon": 120.0}))
        last_lat = 30.0 + 1999 / 100_000

        async def positions() -> list[dict[str, object]]:
            entries = await bus.read_since(bus.board_stream, "0-0", count=10_000)
            return [
                e.message
                for e in entries
                if e.message.get("caregiver_id") == str(city.near_id)
                and e.message.get("type") == "caregiver.position"
            ]

        await wait_until(lambda: _ends_at(positions, last_lat))
        sent = await positions()
        assert 1 <= len(sent) <= 10, len(sent)  # one a second, not 2,000
    assert await board.next("caregiver.position")  # the board saw them, still connected
    await board.close()


async def _ends_at(positions, lat: float) -> bool:  # type: ignore[no-untyped-def]
    found = await positions()
    return bool(found) and found[-1]["lat"] == pytest.approx(lat)
