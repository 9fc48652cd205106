"""One Redis reader per process feeding every local WebSocket.

Each process reads the live streams it has local listeners for with one blocking
XREAD, so every process sees the same events in the same order whichever process
wrote them. A listener whose queue is full is dropped (it reconnects and resumes
from its last seq) rather than holding up everybody else.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

from redis.exceptions import RedisError

from dispatch.background import cancelling
from dispatch.live.bus import LiveBus, StreamEntry

log = logging.getLogger(__name__)


class Listener(Protocol):
    def deliver(self, entry: StreamEntry) -> None:
        """Take one entry without blocking."""
        ...


_STREAM_ID = re.compile(r"\d{1,20}(-\d{1,20})?")


def seq_key(seq: str) -> tuple[int, int]:
    """Order Redis stream ids ("1700000000000-3") numerically; ValueError for what
    Redis could not hold (each part is a 64-bit unsigned number)."""
    if not _STREAM_ID.fullmatch(seq):
        raise ValueError(f"{seq[:40]!r} is not a stream id")
    ms, _, n = seq.partition("-")
    key = int(ms), int(n or 0)
    if not all(0 <= part < 2**64 for part in key):
        raise ValueError(f"{seq[:40]!r} is not a stream id")
    return key


class Fanout:
    def __init__(self, bus: LiveBus, *, block_ms: int = 200) -> None:
        self.bus = bus
        self.block_ms = block_ms
        self._listeners: dict[str, set[Listener]] = defaultdict(set)
        self._cursors: dict[str, str] = {}
        self._hooks: list[tuple[str, Callable[[StreamEntry], None]]] = []

    async def subscribe(self, stream: str, listener: Listener) -> None:
        """Deliver every entry appended to ``stream`` from now on."""
        if stream not in self._cursors:
            self._cursors[stream] = await self.bus.last_seq(stream)
        self._listeners[stream].add(listener)

    def unsubscribe(self, stream: str, listener: Listener) -> None:
        listeners = self._listeners.get(stream)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners and not any(s == stream for s, _ in self._hooks):
            del self._listeners[stream]
            self._cursors.pop(stream, None)

    async def on_entry(self, stream: str, hook: Callable[[StreamEntry], None]) -> None:
        """Call ``hook`` for every new entry of ``stream`` (for in-process services)."""
        if stream not in self._cursors:
            self._cursors[stream] = await self.bus.last_seq(stream)
        self._hooks.append((stream, hook))

    async def run(self) -> None:
        while True:
            if not self._cursors:
                await asyncio.sleep(self.block_ms / 1000)
                continue
            try:
                entries = await self.bus.read_new(dict(self._cursors), self.block_ms)
            except (RedisError, OSError) as exc:
                if cancelling():
                    raise
                log.warning("live stream read failed, retrying: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for entry in entries:
                if entry.stream not in self._cursors:
                    continue  # unsubscribed while we read
                self._cursors[entry.stream] = entry.seq
                for listener in list(self._listeners.get(entry.stream, ())):
                    listener.deliver(entry)
                for stream, hook in self._hooks:
                    if stream == entry.stream:
                        hook(entry)
