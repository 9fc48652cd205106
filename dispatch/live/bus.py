"""The only module that talks to Redis.

Redis carries what is live and shared between server processes:

- ``{prefix}:stream:board`` and ``{prefix}:stream:caregiver:{id}``: Redis Streams of
  live events; the entry id is the message's ``seq``, so a client that reconnects
  with its last seq gets what it missed.
- ``{prefix}:caregivers:geo``: caregiver positions (GEOADD), searched by radius;
  ``{prefix}:caregivers:seen``: when each position was reported (epoch seconds).

The database stays the record: nothing here is needed to rebuild an alert.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

BOARD_STREAM_MAXLEN = 10_000
CAREGIVER_STREAM_MAXLEN = 1_000
MAX_CONNECTIONS = 2_000  # to one Redis, per server process


@dataclass(frozen=True, slots=True)
class Nearby:
    caregiver_id: str
    distance_m: float
    lat: float
    lon: float
    seen_at: float  # epoch seconds of the last report


@dataclass(frozen=True, slots=True)
class StreamEntry:
    stream: str
    seq: str
    message: dict[str, Any]


class LiveBus:
    def __init__(self, redis: Redis, prefix: str = "carebell") -> None:
        self.redis = redis
        self.prefix = prefix
        self.board_stream = f"{prefix}:stream:board"
        self._geo = f"{prefix}:caregivers:geo"
        self._seen = f"{prefix}:caregivers:seen"

    @classmethod
    def from_url(cls, url: str, prefix: str) -> LiveBus:
        # redis-py's pool now stops at 100 connections and then fails ("Too many
        # connections"); hundreds of phones reporting at once need more than that.
        redis = Redis.from_url(
            url, max_connections=MAX_CONNECTIONS, socket_timeout=5, socket_connect_timeout=2
        )
        return cls(redis, prefix)

    def caregiver_stream(self, caregiver_id: str) -> str:
        return f"{self.prefix}:stream:caregiver:{caregiver_id}"

    async def close(self) -> None:
        await self.redis.aclose()

    # -- live events ---------------------------------------------------------

    async def publish(self, deliveries: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Append each (stream, message) in order, in one round trip."""
        if not deliveries:
            return
        pipe = self.redis.pipeline(transaction=False)
        for stream, message in deliveries:
            maxlen = BOARD_STREAM_MAXLEN if stream == self.board_stream else CAREGIVER_STREAM_MAXLEN
            pipe.xadd(
                stream,
                {"m": json.dumps(message, ensure_ascii=False)},
                maxlen=maxlen,
                approximate=True,
            )
        await pipe.execute()

    async def last_seq(self, stream: str) -> str:
        """The newest entry id of a stream, or "0-0" if it is empty."""
        entries: Any = await self.redis.xrevrange(stream, count=1)
        return _text(entries[0][0]) if entries else "0-0"

    async def read_since(self, stream: str, after_seq: str, count: int = 1000) -> list[StreamEntry]:
        """Entries after ``after_seq`` (exclusive), oldest first."""
        entries: Any = await self.redis.xrange(stream, min=f"({after_seq}", count=count)
        return [StreamEntry(stream, _text(i), _decode(f)) for i, f in entries]

    async def oldest_seq(self, stream: str) -> str | None:
        entries: Any = await self.redis.xrange(stream, count=1)
        return _text(entries[0][0]) if entries else None

    async def read_new(self, cursors: Mapping[str, str], block_ms: int) -> list[StreamEntry]:
        """Block up to ``block_ms`` for entries after each stream's cursor."""
        if not cursors:
            return []
        streams: Any = dict(cursors)
        reply: Any = await self.redis.xread(streams, block=block_ms, count=500)
        return [
            StreamEntry(_text(stream), _text(i), _decode(f))
            for stream, entries in reply
            for i, f in entries
        ]

    # -- consumer groups: each entry to one consumer, kept until acknowledged ------

    async def ensure_group(self, stream: str, group: str) -> None:
        """Create ``group`` on ``stream`` from now on, unless it exists."""
        try:
            await self.redis.xgroup_create(stream, group, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_group(
        self, stream: str, group: str, consumer: str, *, pending: bool, block_ms: int = 1000
    ) -> list[StreamEntry]:
        """New entries for ``consumer``, or (``pending``) those it took and never acked."""
        reply: Any = await self.redis.xreadgroup(
            group, consumer, {stream: "0" if pending else ">"}, count=200, block=block_ms
        )
        return [
            StreamEntry(_text(name), _text(i), _decode(f))
            for name, entries in reply or []
            for i, f in entries
            if f  # a pending entry trimmed from the stream comes back empty
        ]

    async def ack(self, stream: str, group: str, seqs: Sequence[str]) -> None:
        if seqs:
            await self.redis.xack(stream, group, *seqs)

    # -- caregiver positions ---------------------------------------------------

    async def set_position(self, caregiver_id: str, lat: float, lon: float) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.geoadd(self._geo, (lon, lat, caregiver_id))
        pipe.hset(self._seen, caregiver_id, f"{time.time():.3f}")
        await pipe.execute()

    async def forget_position(self, caregiver_id: str) -> None:
        """The caregiver's app left: no more offers until it reports again."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self._geo, caregiver_id)
        pipe.hdel(self._seen, caregiver_id)
        await pipe.execute()

    async def nearby(self, lat: float, lon: float, radius_m: float, count: int) -> list[Nearby]:
        """Caregivers within ``radius_m`` of a point, nearest first, with report times."""
        [hits] = await self.nearby_many([(lat, lon, radius_m)], count)
        return hits

    async def nearby_many(
        self, searches: Sequence[tuple[float, float, float]], count: int
    ) -> list[list[Nearby]]:
        """``nearby`` for many (lat, lon, radius_m) at once, in two round trips."""
        if not searches:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for lat, lon, radius_m in searches:
            pipe.geosearch(
                self._geo,
                longitude=lon,
                latitude=lat,
                radius=radius_m,
                unit="m",
                sort="ASC",
                count=count,
                withdist=True,
                withcoord=True,
            )
        replies: Any = await pipe.execute()
        ids = sorted({_text(h[0]) for hits in replies for h in hits})
        seen: Any = await self.redis.hmget(self._seen, ids) if ids else []
        seen_at = dict(zip(ids, seen, strict=True))
        return [
            [
                Nearby(
                    _text(h[0]),
                    float(h[1]),
                    float(h[2][1]),
                    float(h[2][0]),
                    float(seen_at[_text(h[0])] or 0),
                )
                for h in hits
            ]
            for hits in replies
        ]

    async def positions(self, caregiver_ids: Sequence[str]) -> dict[str, Nearby]:
        """Last reported position of each caregiver who has one (distance_m is 0)."""
        if not caregiver_ids:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        pipe.geopos(self._geo, *caregiver_ids)
        pipe.hmget(self._seen, list(caregiver_ids))
        coords, seen = await pipe.execute()
        return {
            cid: Nearby(cid, 0.0, float(xy[1]), float(xy[0]), float(at or 0))
            for cid, xy, at in zip(caregiver_ids, coords, seen, strict=True)
            if xy is not None
        }

    async def remember_reply(self, key: str, reply: str, ttl_s: int = 86_400) -> None:
        await self.redis.set(f"{self.prefix}:reply:{key}", reply, ex=ttl_s)

    async def recall_reply(self, key: str) -> str | None:
        """A reply already sent for this request key (exactly-once client retries)."""
        value: Any = await self.redis.get(f"{self.prefix}:reply:{key}")
        return _text(value) if value is not None else None

    async def ping(self) -> bool:
        return bool(await self.redis.ping())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(fields: Mapping[Any, Any]) -> dict[str, Any]:
    raw = fields.get(b"m", fields.get("m"))
    result: dict[str, Any] = json.loads(raw)
    return result
