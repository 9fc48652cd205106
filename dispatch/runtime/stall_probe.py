"""How long the server's event loop was held: a sleeper that measures how late it wakes.

Every press, offer and caregiver answer in this process waits while anything
holds the loop (a solve, a hash, a report run inline), so the worst stall is a
figure of its own: kept here, exported as ``carebell_event_loop_stall_seconds``
and logged when it passes ``warn_s``.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Gauge, Histogram

log = logging.getLogger(__name__)

STALLS = Histogram(
    "carebell_event_loop_stall_seconds",
    "How late the event loop woke a sleeper: the time something else held it",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WORST = Gauge("carebell_event_loop_worst_stall_seconds", "The longest event-loop stall since start")


class StallProbe:
    def __init__(self, *, interval_s: float = 0.02, warn_s: float = 0.1) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s, self.warn_s = interval_s, warn_s
        self.worst_s = 0.0

    def observe(self, late_s: float) -> None:
        """Record one wake-up ``late_s`` seconds after it was due."""
        late_s = max(0.0, late_s)
        STALLS.observe(late_s)
        if late_s > self.worst_s:
            self.worst_s = late_s
            WORST.set(late_s)
        if late_s > self.warn_s:
            log.warning("event loop stalled for %.0f ms", late_s * 1000)

    async def run(self) -> None:
        """Sleep ``interval_s`` again and again, recording how late each wake-up is."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval_s)
            self.observe(loop.time() - started - self.interval_s)
