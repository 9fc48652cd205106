"""Each device's fair share of the gateway's batches (pure: no I/O, no clock).

A device may send ``burst`` messages at once and ``rate_per_s`` a second after
that. Its messages within that budget go into the next batch in arrival order;
beyond it they wait behind every other device's, and devices over budget share
what room is left in turn. Nothing is dropped: a message that waits is only
acknowledged to the broker later, once stored, and an emergency press that waits
is still stored and merged into its device's open alert. A batch always fills
with what there is, so a flood costs the others no throughput, only its own turn.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_BURST = 20  # a device's backlog after a short outage goes through at once
DEFAULT_RATE_PER_S = 1.0  # far above a device's normal rate (a heartbeat in minutes)
# From this many devices on, the buckets of those that sent nothing for long enough
# to be full again are forgotten: the table holds only devices that sent lately.
FORGET_FROM_DEVICES = 4096


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_s: float


@dataclass(slots=True)
class FairShare(Generic[T]):
    """Token buckets per device, and the batch they let through.

    ``device_of`` names the device a queued item came from ("" for none: such
    items are never held back, they are refused downstream anyway).
    """

    device_of: Callable[[T], str]
    burst: int = DEFAULT_BURST
    rate_per_s: float = DEFAULT_RATE_PER_S
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.burst < 1:
            raise ValueError("a device's burst must let at least one message through")
        if self.rate_per_s <= 0:
            raise ValueError("a device's rate must be positive")

    def take(self, queue: collections.deque[T], size: int, now_s: float) -> list[T]:
        """Up to ``size`` items out of ``queue`` for the next batch, the rest left in
        it in their order: first every item within its device's budget, in arrival
        order; then, in the room left, the others one device at a time in turn."""
        if size < 1:
            raise ValueError("a batch holds at least one item")
        taken: list[T] = []
        waiting: dict[str, collections.deque[T]] = {}
        left: list[T] = []
        while queue and len(taken) < size:
            item = queue.popleft()
            device = self.device_of(item)
            if device in waiting:  # keep a device's messages in order
                waiting[device].append(item)
            elif not device or self._spend(device, now_s):
                taken.append(item)
            else:
                waiting[device] = collections.deque([item])
        # Over budget: in turn, one item per device per round, while there is room.
        while waiting and len(taken) < size:
            for device in list(waiting):
                if len(taken) >= size:
                    break
                items = waiting[device]
                taken.append(items.popleft())
                if not items:
                    del waiting[device]
        for items in waiting.values():
            left.extend(items)
        # What was looked at and not taken goes back to the front, in arrival order
        # per device (a device's order is all that matters downstream).
        queue.extendleft(reversed(left))
        self._forget_full(now_s)
        return taken

    def _spend(self, device: str, now_s: float) -> bool:
        bucket = self._buckets.get(device)
        if bucket is None:
            bucket = self._buckets[device] = _Bucket(float(self.burst), now_s)
        else:
            refill = (now_s - bucket.at_s) * self.rate_per_s
            bucket.tokens = min(float(self.burst), bucket.tokens + max(0.0, refill))
            bucket.at_s = max(bucket.at_s, now_s)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False

    def _forget_full(self, now_s: float) -> None:
        if len(self._buckets) < FORGET_FROM_DEVICES:
            return
        full_after_s = self.burst / self.rate_per_s
        stale = [d for d, b in self._buckets.items() if now_s - b.at_s >= full_after_s]
        for device in stale:
            del self._buckets[device]
