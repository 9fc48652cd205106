"""Redis down: the alert is safe in the database, and reaches the board and the
matcher once Redis is back. A real broker; a Redis server the test stops and starts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from config.settings import Settings
from dispatch.runtime.composition import running_services
from dispatch.store.tables import Alert, Order
from simulators import local_services
from simulators.devices import DevicePublisher
from tests.helpers import CENTER, seed_small_city, wait_until


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[local_services.LocalServer]:
    server = local_services.redis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def test_an_alert_raised_while_redis_is_down_is_kept_and_dispatched_once_it_is_back(
    settings: Settings, own_redis: local_services.LocalServer
) -> None:
    quick = settings.model_copy(update={"redis_url": own_redis.url})
    async with running_services(quick) as services:
        city = await asyncio.to_thread(seed_small_city, services.db)
        await asyncio.to_thread(own_redis.stop)

        publisher = DevicePublisher(quick.mqtt_url)
        await asyncio.to_thread(publisher.connect)
        await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
        publisher.close()

        def stored() -> list[Alert]:
            with services.db.session() as session:
                return list(session.exec(select(Alert)).all())

        # The broker was acked after the commit: the alert is in the database.
        [alert] = await wait_until(lambda: asyncio.to_thread(stored))

        await asyncio.to_thread(own_redis.start)
        # The outbox sweep puts it on the board stream...
        bus = services.bus

        async def on_board() -> bool:
            entries = await bus.redis.xrange(bus.board_stream)
            return any(
                json.loads(f[b"m"]).get("alert", {}).get("id") == str(alert.id) for _, f in entries
            )

        await wait_until(on_board, timeout_s=15)
        # ...and the matcher offers it to the caregiver whose phone reports in again.
        await bus.set_position(str(city.near_id), CENTER[0] + 0.0045, CENTER[1])

        def offered() -> list[Order]:
            with services.db.session() as session:
                return list(session.exec(select(Order).where(Order.alert_id == alert.id)).all())

        [order] = await wait_until(lambda: asyncio.to_thread(offered), timeout_s=15)
        assert order.caregiver_id == city.near_id
