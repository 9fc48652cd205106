"""Open sockets by log-in session, so a logout closes them at once.

In-process only: a socket on another server process notices the session is gone
at its next check (``RECHECK_S`` in dispatch/ws/hub.py) or when it expires.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LiveSessions:
    def __init__(self) -> None:
        self._ended: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    def watch(self, token: str) -> asyncio.Event:
        """An event set when this session ends; call :meth:`forget` when done."""
        event = asyncio.Event()
        self._ended[_digest(token)].add(event)
        return event

    def forget(self, token: str, event: asyncio.Event) -> None:
        digest = _digest(token)
        self._ended[digest].discard(event)
        if not self._ended[digest]:
            del self._ended[digest]

    def end(self, token: str) -> None:
        """The session was logged out: wake every socket that uses it."""
        for event in self._ended.pop(_digest(token), set()):
            event.set()
