"""How many wrong passwords are let through: per user name, per client address,
and when an account locks. Pure: the caller passes the monotonic time in.

Unknown user names are counted and locked exactly like real ones, so neither the
answer nor its timing tells an attacker which names exist.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_user: int = 5  # failures of one user name within window_s before 429
    per_address: int = 20  # failures from one client address within window_s
    window_s: float = 60.0
    lock_after: int = 10  # failures in a row that lock the account
    lock_s: float = 15 * 60.0  # until a supervisor releases it, or this long
    max_keys: int = 100_000  # names and addresses remembered; the oldest go first

    def __post_init__(self) -> None:
        if min(self.per_user, self.per_address, self.lock_after) < 1:
            raise ValueError("login limits must allow at least one attempt")
        if self.window_s <= 0 or self.lock_s <= 0:
            raise ValueError("login windows must be positive")


def window_wait(times: Iterable[float], limit: int, window_s: float, now: float) -> float:
    """Seconds until fewer than ``limit`` of ``times`` lie within the last
    ``window_s`` (0: another attempt may go on now)."""
    recent = sorted(t for t in times if t > now - window_s)
    if len(recent) < limit:
        return 0.0
    return max(0.0, recent[-limit] + window_s - now)


@dataclass
class LoginThrottle:
    """Failures in a sliding window per user name and per address, and locks."""

    limits: LoginLimits = field(default_factory=LoginLimits)
    _by_user: collections.OrderedDict[str, collections.deque[float]] = field(
        default_factory=collections.OrderedDict
    )
    _by_address: collections.OrderedDict[str, collections.deque[float]] = field(
        default_factory=collections.OrderedDict
    )
    _in_a_row: collections.OrderedDict[str, int] = field(default_factory=collections.OrderedDict)
    _locked_until: dict[str, float] = field(default_factory=dict)

    def retry_after(self, username: str, address: str, now: float) -> float:
        """Seconds to wait before this name may be tried from this address (0: go on)."""
        waits = [
            self._window_wait(self._by_user, username, self.limits.per_user, now),
            self._window_wait(self._by_address, address, self.limits.per_address, now),
            self._locked_until.get(username, now) - now,
        ]
        return max(0.0, *waits)

    def failed(self, username: str, address: str, now: float) -> bool:
        """Count a wrong password; True when this failure locks the name."""
        for table, key in ((self._by_user, username), (self._by_address, address)):
            times = table.setdefault(key, collections.deque())
            table.move_to_end(key)
            times.append(now)
            self._forget_oldest(table)
        count = self._in_a_row.get(username, 0) + 1
        self._in_a_row[username] = count
        self._in_a_row.move_to_end(username)
        self._forget_oldest(self._in_a_row)
        if count >= self.limits.lock_after:
            self._locked_until[username] = now + self.limits.lock_s
            self._in_a_row[username] = 0  # once released, the name gets lock_after again
            return True
        return False

    def succeeded(self, username: str) -> None:
        self._in_a_row.pop(username, None)
        self._by_user.pop(username, None)

    def release(self, username: str) -> None:
        """A supervisor's unlock: the name starts afresh."""
        self.succeeded(username)
        self._locked_until.pop(username, None)

    def _window_wait(
        self,
        table: collections.OrderedDict[str, collections.deque[float]],
        key: str,
        limit: int,
        now: float,
    ) -> float:
        times = table.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.limits.window_s:
            times.popleft()
        if not times:
            del table[key]
            return 0.0
        if len(times) < limit:
            return 0.0
        return times[-limit] + self.limits.window_s - now

    def _forget_oldest(self, table: collections.OrderedDict[str, Any]) -> None:
        while len(table) > self.limits.max_keys:
            table.popitem(last=False)
        # Locks end on their own; drop the ones that have.
        if len(self._locked_until) > self.limits.max_keys:
            self._locked_until.clear()
