"""A caregiver's answer is kept in the database with the action it answers: a
retry with the same ref gets the first answer even after Redis restarted empty.
A real broker, the test's own Redis (restarted), the server in process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from config.settings import Settings
from dispatch.store.tables import ActionReply, AuditRecord
from simulators import local_services
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import CENTER, LiveClient, login, seed_small_city, wait_until


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[local_services.LocalServer]:
    server = local_services.redis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, own_redis: local_services.LocalServer) -> Settings:
    return settings.model_copy(update={"redis_url": own_redis.url})


async def test_a_retried_action_gets_its_first_answer_after_redis_restarted_empty(
    server: RunningServer, own_redis: local_services.LocalServer, publisher: DevicePublisher
) -> None:
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)
    token = await login(server.http, db, "caregiver", caregiver_id=city.near_id)
    url = f"{server.ws}/ws/v1/caregivers/{city.near_id}"
    app = await LiveClient.connect(url, token)
    await app.send(type="position", lat=CENTER[0] + 0.0045, lon=CENTER[1])
    bus = server.services.bus
    await wait_until(lambda: bus.nearby(CENTER[0], CENTER[1], 5000, 50))
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    order_id = (await app.next("order.offered"))["order"]["id"]

    await app.send(type="action", action="accept", order_id=order_id, ref="acc-1")
    first = await app.next("reply", ref="acc-1")
    assert first["state"] == "accepted"

    def kept() -> list[ActionReply]:
        with db.session() as session:
            return list(session.exec(select(ActionReply)).all())

    [row] = await asyncio.to_thread(kept)  # committed with the move itself
    assert (row.ref, row.reply["state"]) == ("acc-1", "accepted")

    # Redis comes back empty (no persistence): whatever it held of answers is gone.
    await app.close()
    await asyncio.to_thread(own_redis.restart)
    app = await LiveClient.connect(url, token)
    await app.send(type="action", action="accept", order_id=order_id, ref="acc-1")
    again = await app.next("reply", ref="acc-1", timeout_s=30)
    assert again["repeated"] is True
    assert (again["state"], again["order_id"]) == ("accepted", order_id)

    def accepted_steps() -> int:
        with db.session() as session:
            steps = session.exec(
                select(AuditRecord).where(AuditRecord.to_state == "accepted")
            ).all()
            return sum(1 for s in steps if s.entity == "order")

    assert await asyncio.to_thread(accepted_steps) == 1  # carried out once
    await app.close()
