"""Every long-running loop of the server, under one supervisor.

A loop that ends (it raised, or returned although it should run forever) is
logged with its traceback, counted in ``carebell_loop_restarts_total``, reported
down (``/healthz`` answers 503 naming it) and started again after a backoff that
doubles up to ``max_backoff_s``. Once a restarted loop has run ``settle_s``
without ending it counts as running again, and its backoff starts over.

Loops keep their own handling of what is expected (Redis or the database away:
they log a warning and retry at their own pace); anything else ends them here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import Counter, Gauge

from dispatch.background import cancelling, stop_tasks

log = logging.getLogger(__name__)

LoopFactory = Callable[[], Coroutine[Any, Any, None]]

RESTARTS = Counter(
    "carebell_loop_restarts",
    "Background loops that ended unexpectedly and were started again, by loop",
    ["loop"],
)
DOWN = Gauge(
    "carebell_loop_down",
    "1 while a background loop is down (ended, waiting to restart, or not yet settled)",
    ["loop"],
)


class LoopSupervisor:
    """Starts named loops, restarts any that end, and says which are down."""

    def __init__(
        self,
        *,
        first_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        settle_s: float = 5.0,
        stop_retry_s: float = 3.0,
    ) -> None:
        if not 0 < first_backoff_s <= max_backoff_s:
            raise ValueError("need 0 < first_backoff_s <= max_backoff_s")
        if settle_s <= 0:
            raise ValueError("settle_s must be positive")
        self.first_backoff_s, self.max_backoff_s = first_backoff_s, max_backoff_s
        self.settle_s, self.stop_retry_s = settle_s, stop_retry_s
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._down: set[str] = set()
        self.restarts: dict[str, int] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._tasks)

    @property
    def down(self) -> list[str]:
        """The loops not running now, or restarted less than ``settle_s`` ago."""
        return sorted(self._down)

    def start(self, name: str, factory: LoopFactory) -> None:
        """Run ``factory()`` as the loop ``name`` until :meth:`stop`; ``factory`` is
        called again for every restart, so it must build a fresh coroutine."""
        if name in self._tasks:
            raise ValueError(f"a loop named {name!r} is already running")
        self.restarts.setdefault(name, 0)
        DOWN.labels(loop=name).set(0)
        self._tasks[name] = asyncio.create_task(self._keep(name, factory), name=name)

    async def stop(self) -> None:
        """Cancel every loop and wait for all of them to end."""
        await stop_tasks(self._tasks.values(), retry_s=self.stop_retry_s)
        self._tasks.clear()

    async def _keep(self, name: str, factory: LoopFactory) -> None:
        loop = asyncio.get_running_loop()
        backoff_s = self.first_backoff_s
        while True:
            started = loop.time()
            settled = loop.call_later(self.settle_s, self._mark_up, name)
            try:
                await factory()
            except Exception:
                if cancelling():
                    raise  # stopping: a client library turned our cancel into its own error
                log.exception("loop %s failed; starting it again in %.1f s", name, backoff_s)
            else:
                log.error("loop %s returned; starting it again in %.1f s", name, backoff_s)
            finally:
                settled.cancel()
            ran_s = loop.time() - started
            self._mark_down(name)
            if ran_s >= self.settle_s:
                backoff_s = self.first_backoff_s  # it had been running well: a fresh failure
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self.max_backoff_s)

    def _mark_down(self, name: str) -> None:
        self._down.add(name)
        self.restarts[name] += 1
        RESTARTS.labels(loop=name).inc()
        DOWN.labels(loop=name).set(1)

    def _mark_up(self, name: str) -> None:
        if name in self._down:
            log.info("loop %s is running again", name)
        self._down.discard(name)
        DOWN.labels(loop=name).set(0)
