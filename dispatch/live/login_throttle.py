"""Wrong passwords counted in Redis, so every server process throttles alike.

Behind a load balancer each log-in may reach another replica: counted in each
process's memory, five wrong passwords per replica went through, and an
attacker got five times the tries with five replicas. The counts live in Redis
instead (dispatch/live/bus.py), by epoch seconds, so replicas agree; the rules
stay the domain's (dispatch/domain/login_throttle.py). The lock itself is in
the database (dispatch/registry/accounts.py). With Redis away, log-ins go on,
throttled by this process's own count: operators must be able to log in
during an outage of the live layer.
"""

from __future__ import annotations

import hashlib
import logging
import time

from redis.exceptions import RedisError

from dispatch.domain.login_throttle import LoginLimits, LoginThrottle, window_wait
from dispatch.live.bus import LiveBus

log = logging.getLogger(__name__)


def _key(kind: str, value: str) -> str:
    # A digest: names and addresses of any length or bytes make keys of one shape.
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


class SharedLoginThrottle:
    """The log-in's throttle: the shared count, or this process's while Redis is away."""

    def __init__(self, bus: LiveBus, local: LoginThrottle) -> None:
        self.bus = bus
        self.local = local

    @property
    def limits(self) -> LoginLimits:
        return self.local.limits

    async def retry_after(self, username: str, address: str) -> float:
        """Seconds to wait before this name may be tried from this address (0: go on)."""
        limits, now = self.limits, time.time()
        try:
            by_user, by_address = await self.bus.login_failures(
                [_key("user", username), _key("addr", address)], now - limits.window_s
            )
        except (RedisError, OSError) as exc:
            log.warning("log-in throttle: Redis away (%s); this process's count applies", exc)
            return self.local.retry_after(username, address, time.monotonic())
        return max(
            window_wait(by_user, limits.per_user, limits.window_s, now),
            window_wait(by_address, limits.per_address, limits.window_s, now),
            self.local.retry_after(username, address, time.monotonic()),
        )

    async def failed(self, username: str, address: str) -> bool:
        """Count a wrong password; True when this failure locks the name."""
        limits = self.limits
        try:
            in_a_row = await self.bus.add_login_failure(
                [_key("user", username), _key("addr", address)],
                _key("row", username),
                at=time.time(),
                window_s=limits.window_s,
                row_ttl_s=limits.lock_s,
            )
        except (RedisError, OSError) as exc:
            log.warning("log-in throttle: Redis away (%s); counted in this process", exc)
            return self.local.failed(username, address, time.monotonic())
        if in_a_row >= limits.lock_after:
            # Once released, the name gets lock_after tries again.
            await self._forget([_key("row", username)])
            return True
        return False

    async def succeeded(self, username: str) -> None:
        self.local.succeeded(username)
        await self._forget([_key("user", username), _key("row", username)])

    async def release(self, username: str) -> None:
        """A supervisor's unlock: the name starts afresh, in every process."""
        self.local.release(username)
        await self._forget([_key("user", username), _key("row", username)])

    async def _forget(self, keys: list[str]) -> None:
        try:
            await self.bus.forget_login_failures(keys)
        except (RedisError, OSError) as exc:
            log.warning("log-in throttle: Redis away (%s); counts not cleared", exc)
