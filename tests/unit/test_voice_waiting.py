"""Who waits to talk, as the operators' boards are told (pure: no socket, no database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from dispatch.domain.areas import Place
from dispatch.voice.capability import VoiceCatalog
from dispatch.voice.service import WAITING_BEAT_S, VoiceService, Waiting
from dispatch.voice.session import Party, PartyKind

EAST = Place.known("东城区", None, None)
WEST = Place.known("西城区", None, None)


class Board:
    def __init__(self) -> None:
        self.lists: list[list[str]] = []

    def reply(self, message: dict[str, Any]) -> None:
        assert message["type"] == "voice.waiting"
        self.lists.append([w["party"] for w in message["waiting"]])


async def _published() -> None:
    return None


def service() -> VoiceService:
    return VoiceService(cast(Any, None), VoiceCatalog({}), cast(Any, None), _published)


def caller(n: int, place: Place = EAST) -> Waiting:
    since = datetime(2026, 12, 2, 8, tzinfo=UTC) + timedelta(seconds=n)
    return Waiting(Party(PartyKind.DEVICE, f"pb-{n:05}"), since, f"elder {n}", None, place)


async def test_a_surge_of_callers_reaches_each_board_as_one_list_a_beat() -> None:
    voice = service()
    east, west = Board(), Board()
    voice.attach(Party(PartyKind.OPERATOR, "east"), east, lambda p: p.district == "东城区")
    voice.attach(Party(PartyKind.OPERATOR, "west"), west, lambda p: p.district == "西城区")
    # 2,000 presses in the same moment, and the first 500 answered elsewhere.
    for n in reversed(range(2000)):
        voice.waiting[caller(n).party] = caller(n)
        voice._tell_operators(caller(n))  # as a raised alert does
    for n in range(500):
        voice._withdraw(caller(n).party)  # as a closed alert does
    assert east.lists == []  # nothing yet: the beat has not come

    await asyncio.sleep(WAITING_BEAT_S * 3)
    [shown] = east.lists  # one list, not 2,500
    assert shown == [f"device:pb-{n:05}" for n in range(500, 2000)]  # oldest first
    assert west.lists == []  # none of its area's callers came or went

    voice.waiting[caller(9000, WEST).party] = caller(9000, WEST)
    voice._tell_operators(caller(9000, WEST))
    await asyncio.sleep(WAITING_BEAT_S * 3)
    assert west.lists == [["device:pb-09000"]]
    assert len(east.lists) == 1
    voice.close()
