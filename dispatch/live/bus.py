"""The only module that talks to Redis.

Redis carries what is live and shared between server processes:

- ``{prefix}:stream:board`` and ``{prefix}:stream:caregiver:{id}``: Redis Streams of
  live events; the entry id is the message's ``seq``, so a client that reconnects
  with its last seq gets what it missed.
- ``{prefix}:caregivers:geo``: caregiver positions (GEOADD), searched by radius;
  ``{prefix}:caregivers:seen``: when each position was reported (epoch seconds).
- ``{prefix}:login:{key}``: wrong passwords per user name and per client address
  (sorted sets of epoch seconds), and failures in a row per name (a counter), so
  every server process throttles log-ins alike (dispatch/live/login_throttle.py).

The database stays the record: nothing here is needed to rebuild an alert.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import RedisError, ResponseError

from dispatch.live import geo

BOARD_STREAM_MAXLEN = 10_000
CAREGIVER_STREAM_MAXLEN = 1_000
# Connections to Redis, per server process. Each command takes a connection of
# its own while it runs, and a pool that opened a new one whenever all were busy
# opened hundreds when 300 caregiver apps connected at once: on a loop busy with
# the surge, their connects outlasted the connect timeout and the apps' sockets
# were closed. Redis serves one command at a time whatever the number of
# connections, so a command now waits for one of a few instead.
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

MAX_CONNECTIONS = 64
CONNECTION_WAIT_S = 20.0  # for a free connection, then the command fails
# Where a candidate search looks first (LiveBus.nearby_many): in a city of a few
# thousand caregivers the nearest 30 are within about a kilometre.
FIRST_SEARCH_RADIUS_M = 1_500.0


# Candidate search for a whole dispatch round in one script: sent as 200
# pipelined commands, packing and reading them took five times the client's CPU.
# The nearest COUNT within a small circle are the nearest within a larger one,
# so a search looks again at its full radius only when the first circle falls
# short; Redis weighs every member in the cells a radius touches, so the small
# circle saves most of Redis's time. Returns how many each search found and
# their 0-based indices into the members (int32), the members (one per line),
# their GEOPOS as (lat, lon) and their report times (float64): packed, so the
# client reads each answer as one string instead of thousands of values.
_NEARBY_MANY = """
local count, first = tonumber(ARGV[1]), tonumber(ARGV[2])
local counts, found, index, members = {}, {}, {}, {}
for i = 3, #ARGV, 3 do
  local lat, lon, radius = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local hits = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', lon, lat,
    'BYRADIUS', math.min(radius, first), 'm', 'ASC', 'COUNT', count)
  if #hits < count and radius > first then
    hits = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', lon, lat,
      'BYRADIUS', radius, 'm', 'ASC', 'COUNT', count)
  end
  for _, id in ipairs(hits) do
    if not index[id] then
      members[#members + 1] = id
      index[id] = #members - 1
    end
    found[#found + 1] = struct.pack('<i4', index[id])
  end
  counts[#counts + 1] = struct.pack('<i4', #hits)
end
local coords, seen = {}, {}
for i = 1, #members, 1000 do  -- unpack() stops at a few thousand values
  local chunk = {unpack(members, i, math.min(i + 999, #members))}
  for _, xy in ipairs(redis.call('GEOPOS', KEYS[1], unpack(chunk))) do
    coords[#coords + 1] = struct.pack('<dd', tonumber(xy[2]), tonumber(xy[1]))
  end
  for _, at in ipairs(redis.call('HMGET', KEYS[2], unpack(chunk))) do
    seen[#seen + 1] = struct.pack('<d', tonumber(at) or 0)
  end
end
return {table.concat(counts), table.concat(found), table.concat(members, '\\n'),
  table.concat(coords), table.concat(seen)}
"""
SEARCHES_PER_SCRIPT = 250  # Redis serves no one else while a script runs: a few ms

# Every member within a circle, nearest first: the members (one per line), their
# coordinates as (lat, lon) and report times (float64, packed as above), and the
# distance to the last one.
_DISTRICT = """
local hits = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[2], ARGV[1],
  'BYRADIUS', ARGV[3], 'm', 'ASC', 'COUNT', ARGV[4], 'WITHDIST', 'WITHCOORD')
local members, coords, seen = {}, {}, {}
for i, hit in ipairs(hits) do
  members[i] = hit[1]
  coords[i] = struct.pack('<dd', tonumber(hit[3][2]), tonumber(hit[3][1]))
end
for i = 1, #members, 1000 do  -- unpack() stops at a few thousand values
  local chunk = {unpack(members, i, math.min(i + 999, #members))}
  for _, at in ipairs(redis.call('HMGET', KEYS[2], unpack(chunk))) do
    seen[#seen + 1] = struct.pack('<d', tonumber(at) or 0)
  end
end
local last = 0
if #hits > 0 then last = hits[#hits][2] end
return {table.concat(members, '\\n'), table.concat(coords), table.concat(seen), last}
"""
# A batch whose alerts lie within this of their centre (first circles included)
# is searched once; beyond it, one search per alert costs Redis less.
DISTRICT_RADIUS_M = 5_000.0
DISTRICT_MEMBERS = 5_000  # the most one district search returns


SENTINEL_SCHEME = "redis+sentinel://"
REPLICA_WAIT_MS = 1_000  # for the replicas to confirm a publish (WAIT), then it fails


@dataclass(frozen=True, slots=True)
class SentinelUrl:
    """``redis+sentinel://host:port[,host:port...]/service[/db][?min_replicas=N]``"""

    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    min_replicas: int = 0

    @classmethod
    def parse(cls, url: str) -> SentinelUrl:
        rest, _, query = url.removeprefix(SENTINEL_SCHEME).partition("?")
        hosts, _, path = rest.partition("/")
        service, _, db = path.strip("/").partition("/")
        options = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        try:
            sentinels = [
                (host, int(port)) for host, port in (h.rsplit(":", 1) for h in hosts.split(","))
            ]
            parsed = cls(sentinels, service, int(db or 0), int(options.get("min_replicas", 0)))
        except ValueError as exc:
            raise ValueError(f"not a Sentinel URL ({cls.__doc__}): {url}") from exc
        if not service or parsed.min_replicas < 0:
            raise ValueError(f"not a Sentinel URL ({cls.__doc__}): {url}")
        return parsed


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The primary's connections, found through Sentinel, and as with one Redis a
    command waits for one of a few connections (``MAX_CONNECTIONS``)."""


class Nearby(NamedTuple):  # a tuple: a round makes hundreds (a frozen dataclass is ~5x slower)
    caregiver_id: str
    distance_m: float
    lat: float
    lon: float
    seen_at: float  # epoch seconds of the last report


@dataclass(frozen=True, slots=True)
class NearbyMany:
    """What ``nearby_many`` found: per search the caregiver ids, nearest first,
    and each caregiver's position and report time (distance_m is 0 there)."""

    ids: list[list[str]]
    positions: dict[str, Nearby]


@dataclass(frozen=True, slots=True, eq=False)
class Hits:
    """What a round's candidate search found, as arrays: search ``i``'s caregivers,
    nearest first, are ``names[k]`` for ``k`` in ``member[first[i]:first[i + 1]]``;
    each caregiver's position and report time (epoch seconds, 0 if unknown) sit
    at the same ``k`` of ``lat``, ``lon`` and ``seen_at``."""

    names: list[str]
    lat: Floats
    lon: Floats
    seen_at: Floats
    first: Ints
    member: Ints

    def as_nearby_many(self) -> NearbyMany:
        at, first = self.member.tolist(), self.first.tolist()
        ids = [[self.names[k] for k in at[first[i] : first[i + 1]]] for i in range(len(first) - 1)]
        positions = {
            name: Nearby(name, 0.0, lat, lon, seen)
            for name, lat, lon, seen in zip(
                self.names, self.lat.tolist(), self.lon.tolist(), self.seen_at.tolist(), strict=True
            )
        }
        return NearbyMany(ids, positions)


class _Gathered:
    """Hits as they come in from the district search and the scripts: for each
    source, the searches it answered, how many each found, and their picks in
    one flat array (200 searches' answers are never split into 200 arrays)."""

    def __init__(self, searches: int) -> None:
        self.answered = np.zeros(searches, dtype=np.bool_)
        self._start = np.zeros(searches, dtype=np.int64)  # into the picks of all sources
        self._found = np.zeros(searches, dtype=np.int64)
        self._picks: list[Ints] = []
        self._picked = 0
        self._names: list[str] = []
        self._where: list[Floats] = []
        self._seen: list[Floats] = []

    def add(self, members: bytes, coords: bytes, seen: bytes) -> int:
        """Members a script found, packed; returns the index of the first."""
        names = [m.decode() for m in members.split(b"\n")] if members else []
        return self.add_rows(names, _floats(coords).reshape(-1, 2), _floats(seen))

    def add_rows(self, names: list[str], where: Floats, seen: Floats) -> int:
        offset = len(self._names)
        self._names.extend(names)
        self._where.append(where)
        self._seen.append(seen)
        return offset

    def answer(self, searches: Ints, found: Ints, picks: Ints) -> None:
        """``searches[j]`` found ``found[j]`` members, their indices in ``picks`` in turn."""
        self.answered[searches] = True
        self._start[searches] = self._picked + np.cumsum(found) - found
        self._found[searches] = found
        self._picks.append(picks)
        self._picked += len(picks)

    def result(self) -> Hits:
        where = np.concatenate([np.zeros((0, 2)), *self._where])
        found = np.where(self.answered, self._found, 0)
        first = np.concatenate(([0], np.cumsum(found))).astype(np.int64)
        # Each search's run of picks, in the searches' order.
        runs = np.arange(first[-1]) + np.repeat(self._start - first[:-1], found)
        return Hits(
            self._names,
            where[:, 0].copy(),
            where[:, 1].copy(),
            np.concatenate([np.zeros(0), *self._seen]),
            first,
            np.concatenate([np.zeros(0, dtype=np.int64), *self._picks])[runs],
        )


def _floats(packed: bytes) -> Floats:
    return np.frombuffer(packed, dtype="<f8").astype(np.float64)


@dataclass(frozen=True, slots=True)
class StreamEntry:
    stream: str
    seq: str
    message: dict[str, Any]


class NotReplicated(RedisError):
    """Redis took a write but fewer replicas than asked confirmed it in time: a
    failover now could lose it, so the caller publishes again (the outbox does)."""


class LiveBus:
    def __init__(
        self,
        redis: Redis,
        prefix: str = "carebell",
        min_replicas: int = 0,
        sentinel: Sentinel | None = None,
    ) -> None:
        self.redis = redis
        self._sentinel = sentinel  # its own connections to the sentinels, closed with ours
        self.prefix = prefix
        # Replicas that must hold each publish before it counts as done (WAIT):
        # with Sentinel, what the primary acknowledged survives its crash.
        self.min_replicas = min_replicas
        self.board_stream = f"{prefix}:stream:board"
        self._geo = f"{prefix}:caregivers:geo"
        self._seen = f"{prefix}:caregivers:seen"
        self._nearby_script = redis.register_script(_NEARBY_MANY)
        self._district_script = redis.register_script(_DISTRICT)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> LiveBus:
        """A bus on ``redis://host:port/db``, or on the primary a set of Redis
        Sentinels name: ``redis+sentinel://host:port,host:port/service[/db]``,
        optionally ``?min_replicas=N`` (docs/operations.md, "Beyond one machine")."""
        if url.startswith(SENTINEL_SCHEME):
            sentinel_url = SentinelUrl.parse(url)
            sentinel = Sentinel(  # type: ignore[no-untyped-call]
                sentinel_url.sentinels, socket_timeout=5, socket_connect_timeout=5
            )
            redis: Redis = sentinel.master_for(
                sentinel_url.service,
                connection_pool_class=_BlockingSentinelPool,
                max_connections=MAX_CONNECTIONS,
                timeout=CONNECTION_WAIT_S,
                socket_timeout=5,
                socket_connect_timeout=5,
                db=sentinel_url.db,
            )
            return cls(redis, prefix, sentinel_url.min_replicas, sentinel)
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=CONNECTION_WAIT_S,
            socket_timeout=5,
            socket_connect_timeout=5,
        )
        return cls(Redis.from_pool(pool), prefix)

    def caregiver_stream(self, caregiver_id: str) -> str:
        return f"{self.prefix}:stream:caregiver:{caregiver_id}"

    async def close(self) -> None:
        await self.redis.aclose()
        if self._sentinel is not None:
            await self._sentinel.aclose()

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
        if self.min_replicas:
            pipe.execute_command("WAIT", self.min_replicas, REPLICA_WAIT_MS)
        replies = await pipe.execute()
        if self.min_replicas and replies[-1] < self.min_replicas:
            raise NotReplicated(
                f"{replies[-1]} of {self.min_replicas} replicas confirmed within "
                f"{REPLICA_WAIT_MS} ms"
            )

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
        found = await self.nearby_many([(lat, lon, radius_m)], count)
        return [found.positions[cid] for cid in found.ids[0]]

    async def nearby_many(
        self,
        searches: Sequence[tuple[float, float, float]],
        count: int,
        *,
        first_radius_m: float = FIRST_SEARCH_RADIUS_M,
        district_radius_m: float = DISTRICT_RADIUS_M,
    ) -> NearbyMany:
        """``nearby_hits``, as ids and ``Nearby`` values."""
        hits = await self.nearby_hits(
            searches, count, first_radius_m=first_radius_m, district_radius_m=district_radius_m
        )
        return hits.as_nearby_many()

    async def nearby_hits(
        self,
        searches: Sequence[tuple[float, float, float]],
        count: int,
        *,
        first_radius_m: float = FIRST_SEARCH_RADIUS_M,
        district_radius_m: float = DISTRICT_RADIUS_M,
    ) -> Hits:
        """The nearest ``count`` caregivers within each (lat, lon, radius_m), as arrays.

        Alerts that all lie within one district (a circle of ``district_radius_m``
        around them, their first circles included) are answered from one search
        around the district, when it holds each one's whole answer; the others
        get one search each, in scripts of ``SEARCHES_PER_SCRIPT``
        (``_NEARBY_MANY``): within ``first_radius_m`` first, again at the full
        radius only when that falls short. Every way gives the same answer.
        """
        found = _Gathered(len(searches))
        if len(searches) > 1:
            await self._nearby_in_district(
                searches, count, first_radius_m, district_radius_m, found
            )
        rest = np.flatnonzero(~found.answered).tolist()
        for start in range(0, len(rest), SEARCHES_PER_SCRIPT):
            chunk = rest[start : start + SEARCHES_PER_SCRIPT]
            args = [count, first_radius_m, *(x for i in chunk for x in searches[i])]
            counts, picks, members, coords, seen = await self._nearby_script(
                keys=[self._geo, self._seen], args=args
            )
            offset = found.add(members, coords, seen)
            found.answer(
                np.array(chunk, dtype=np.int64),
                np.frombuffer(counts, dtype="<i4").astype(np.int64),
                np.frombuffer(picks, dtype="<i4").astype(np.int64) + offset,
            )
        return found.result()

    async def _nearby_in_district(
        self,
        searches: Sequence[tuple[float, float, float]],
        count: int,
        first_radius_m: float,
        district_radius_m: float,
        found: _Gathered,
    ) -> None:
        """Fill in ``found`` for the searches one district search answers."""
        points = np.array(searches, dtype=np.float64).reshape(-1, 3)
        lat, lon, spread_m = geo.covering_circle(points)
        radius_m = spread_m + first_radius_m
        if radius_m > district_radius_m:
            return  # spread over the city: one search each costs Redis less
        members, coords, seen, last_m = await self._district_script(
            keys=[self._geo, self._seen], args=[lat, lon, radius_m, DISTRICT_MEMBERS]
        )
        where = _floats(coords).reshape(-1, 2)
        if len(where) == DISTRICT_MEMBERS:  # cut short: it covers up to its last member
            radius_m = float(last_m)
        nearest = geo.nearest_covered(points, count, where, (lat, lon, radius_m))
        # Only the members some search picked: a district holds many more.
        picked = np.arange(nearest.member.shape[1]) < nearest.found[:, None]
        picked &= nearest.covered[:, None]
        used, picks = np.unique(nearest.member[picked], return_inverse=True)
        names = members.split(b"\n") if members else []
        offset = found.add_rows(
            [names[k].decode() for k in used.tolist()], where[used], _floats(seen)[used]
        )
        found.answer(
            np.flatnonzero(nearest.covered), nearest.found[nearest.covered], picks + offset
        )

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

    async def login_failures(self, keys: Sequence[str], since: float) -> list[list[float]]:
        """For each key, the times (epoch seconds) of its wrong passwords after ``since``."""
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.zrangebyscore(f"{self.prefix}:login:{key}", f"({since}", "+inf", withscores=True)
        found = await pipe.execute()
        return [[float(score) for _, score in rows] for rows in found]

    async def add_login_failure(
        self, keys: Sequence[str], in_a_row_key: str, at: float, window_s: float, row_ttl_s: float
    ) -> int:
        """Count a wrong password under each key (kept ``window_s``), and one more in
        a row under ``in_a_row_key``; returns how many in a row now."""
        member = f"{at:.6f}:{uuid.uuid4().hex[:8]}"  # two at the same instant both count
        pipe = self.redis.pipeline(transaction=True)
        for key in keys:
            name = f"{self.prefix}:login:{key}"
            pipe.zadd(name, {member: at})
            pipe.zremrangebyscore(name, "-inf", at - window_s)
            pipe.expire(name, max(1, math.ceil(window_s)))
        row = f"{self.prefix}:login:{in_a_row_key}"
        pipe.incr(row)
        pipe.expire(row, max(1, math.ceil(row_ttl_s)))
        replies = await pipe.execute()
        return int(replies[3 * len(keys)])

    async def forget_login_failures(self, keys: Sequence[str]) -> None:
        if keys:
            await self.redis.delete(*(f"{self.prefix}:login:{key}" for key in keys))

    async def ping(self) -> bool:
        return bool(await self.redis.ping())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(fields: Mapping[Any, Any]) -> dict[str, Any]:
    raw = fields.get(b"m", fields.get("m"))
    result: dict[str, Any] = json.loads(raw)
    return result
