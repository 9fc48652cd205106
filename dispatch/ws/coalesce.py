"""A phone's positions, thinned to what the board and the matcher need.

An app may send positions as fast as it likes (2,000 in 0.1 s were seen); each
used to become a board stream entry, flooding every operator's socket and
pushing real events out of the replay history. Now a socket's positions reach
Redis at most once per ``interval_s``, the latest one winning, and the last is
never lost: it goes out when the interval ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

POSITION_INTERVAL_S = 1.0
log = logging.getLogger(__name__)


class PositionCoalescer:
    def __init__(
        self,
        publish: Callable[[float, float], Awaitable[None]],
        interval_s: float = POSITION_INTERVAL_S,
    ) -> None:
        self._publish = publish
        self.interval_s = interval_s
        self._latest: tuple[float, float] | None = None
        self._last_sent = -float("inf")
        self._pending: asyncio.Task[None] | None = None

    async def offer(self, lat: float, lon: float) -> None:
        """Take a position; send it now, or as the latest when the interval ends."""
        self._latest = (lat, lon)
        if self._pending is not None:
            return  # the trailing send takes this one
        wait_s = self._last_sent + self.interval_s - time.monotonic()
        if wait_s <= 0:
            await self._send()
        else:
            self._pending = asyncio.create_task(self._send_after(wait_s))

    async def _send_after(self, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        self._pending = None
        try:
            await self._send()
        except Exception:  # Redis away: the next position tries again
            log.warning("a caregiver's position could not be published", exc_info=True)

    async def _send(self) -> None:
        if self._latest is None:
            return
        lat, lon = self._latest
        self._latest = None
        self._last_sent = time.monotonic()
        await self._publish(lat, lon)

    async def close(self) -> None:
        """The socket is gone: drop a position not yet sent (the phone is away)."""
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pending
