"""The candidate search of a dispatch round, against a real Redis."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from dispatch.live import bus as bus_module
from dispatch.live.bus import SEARCHES_PER_SCRIPT, LiveBus
from simulators import local_services
from tests.helpers import CENTER

M_PER_DEGREE = 111_195.0


@pytest.fixture
async def bus(redis_server: local_services.LocalServer) -> AsyncIterator[LiveBus]:
    bus = LiveBus.from_url(redis_server.url, f"t-{uuid.uuid4().hex[:8]}")
    yield bus
    await bus.close()


def near(rng: random.Random, radius_m: float) -> tuple[float, float]:
    return (
        CENTER[0] + rng.uniform(-radius_m, radius_m) / M_PER_DEGREE,
        CENTER[1] + rng.uniform(-radius_m, radius_m) / M_PER_DEGREE,
    )


async def plain_geosearch(
    bus: LiveBus, lat: float, lon: float, radius_m: float, count: int
) -> list[str]:
    hits = await bus.redis.geosearch(
        f"{bus.prefix}:caregivers:geo",
        longitude=lon,
        latitude=lat,
        radius=radius_m,
        unit="m",
        sort="ASC",
        count=count,
    )
    return [h.decode() for h in hits]


async def test_a_first_small_circle_finds_what_one_search_at_the_full_radius_finds(
    bus: LiveBus,
) -> None:
    rng = random.Random(14)
    # A dense centre and a sparse edge: some searches fill their count in the
    # first circle, some must look again, some have a radius below the first one.
    for k in range(300):
        lat, lon = near(rng, 1_500 if k < 200 else 8_000)
        await bus.set_position(str(uuid.uuid4()), lat, lon)
    searches = [(*near(rng, 9_000), rng.choice([800.0, 3_000.0, 7_000.0])) for _ in range(60)]

    found = await bus.nearby_many(searches, 20, first_radius_m=1_000)

    expected = [await plain_geosearch(bus, lat, lon, r, 20) for lat, lon, r in searches]
    assert found.ids == expected
    assert {len(ids) for ids in found.ids} > {20}  # both full and short searches ran
    assert set(found.positions) == {cid for ids in expected for cid in ids}


@pytest.mark.parametrize(
    ("members", "district_cap"),
    [(40, 5_000), (400, 5_000), (3_000, 5_000), (3_000, 100)],
    ids=["sparse", "town", "city", "city-cut-short"],
)
async def test_a_batch_in_one_district_finds_what_one_search_per_alert_finds(
    bus: LiveBus, members: int, district_cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cut short, the district search covers less: more alerts are searched alone.
    monkeypatch.setattr(bus_module, "DISTRICT_MEMBERS", district_cap)
    rng = random.Random(members)
    for _ in range(members):
        lat, lon = near(rng, 9_000)
        await bus.set_position(str(uuid.uuid4()), lat, lon)
    # A heat wave in one district: the alerts lie within 1.5 km of each other.
    searches = [(*near(rng, 1_000), rng.choice([900.0, 3_000.0, 6_000.0])) for _ in range(80)]

    found = await bus.nearby_many(searches, 30)

    expected = [await plain_geosearch(bus, lat, lon, r, 30) for lat, lon, r in searches]
    assert found.ids == expected
    assert set(found.positions) == {cid for ids in expected for cid in ids}
    for cid, where in found.positions.items():
        [(lon, lat)] = await bus.redis.geopos(f"{bus.prefix}:caregivers:geo", cid)
        assert (where.lat, where.lon) == (lat, lon)
        assert where.seen_at > 0


async def test_positions_and_report_times_come_back_with_the_ids(bus: LiveBus) -> None:
    reported, silent = str(uuid.uuid4()), str(uuid.uuid4())
    before = time.time()
    await bus.set_position(reported, CENTER[0], CENTER[1])
    await bus.set_position(silent, CENTER[0] + 100 / M_PER_DEGREE, CENTER[1])
    await bus.redis.hdel(f"{bus.prefix}:caregivers:seen", silent)

    found = await bus.nearby_many([(CENTER[0], CENTER[1], 1_000)], 5)

    assert found.ids == [[reported, silent]]
    here = found.positions[reported]
    assert (here.lat, here.lon) == pytest.approx(CENTER, abs=1e-5)
    assert here.seen_at >= before - 1
    assert found.positions[silent].seen_at == 0


async def test_many_searches_are_sent_in_several_scripts_and_answered_in_order(
    bus: LiveBus,
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for k, cid in enumerate(ids):
        await bus.set_position(cid, CENTER[0] + 5_000 * k / M_PER_DEGREE, CENTER[1])
    searches = [
        (CENTER[0] + 5_000 * (k % 3) / M_PER_DEGREE, CENTER[1], 1_000.0)
        for k in range(SEARCHES_PER_SCRIPT + 7)
    ]

    found = await bus.nearby_many(searches, 5)

    assert found.ids == [[ids[k % 3]] for k in range(len(searches))]
    assert await bus.nearby_many([], 5) == type(found)([], {})
    assert (await bus.nearby_many([(0.0, 0.0, 1_000.0)], 5)).ids == [[]]


async def test_hundreds_of_commands_at_once_share_a_few_connections(
    bus: LiveBus, redis_server: local_services.LocalServer
) -> None:
    # 300 caregiver apps reporting at once: each command waits for a pooled
    # connection rather than opening its own (opening hundreds timed out).
    before = len(await bus.redis.client_list())
    ids = [str(uuid.uuid4()) for _ in range(300)]
    await asyncio.gather(*(bus.set_position(cid, *CENTER) for cid in ids))
    opened = len(await bus.redis.client_list()) - before
    assert opened <= bus_module.MAX_CONNECTIONS
    found = await bus.positions(ids)
    assert set(found) == set(ids)
