"""A caregiver's answer claims its live events in its own transaction: the step
reaches the app's stream and the board with no outbox claim transaction between.
A real broker, Redis and database, the server in process."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, select

from dispatch.live.outbox import Claimed
from dispatch.runtime import composition
from dispatch.store.tables import AuditRecord
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import CENTER, LiveClient, login, seed_small_city, wait_until


@pytest.fixture(autouse=True)
def no_outbox_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    # The sweep's passes would be counted with the answer's; this test counts
    # only what the answer costs.
    monkeypatch.setattr(composition, "OUTBOX_SWEEP_S", 3600.0)


async def test_an_answer_goes_live_without_an_outbox_pass_of_its_own(
    server: RunningServer, publisher: DevicePublisher
) -> None:
    services = server.services
    db = services.db
    city = await asyncio.to_thread(seed_small_city, db)
    token = await login(server.http, db, "caregiver", caregiver_id=city.near_id)
    app = await LiveClient.connect(f"{server.ws}/ws/v1/caregivers/{city.near_id}", token)
    await app.send(type="position", lat=CENTER[0] + 0.0045, lon=CENTER[1])
    await wait_until(lambda: services.bus.nearby(CENTER[0], CENTER[1], 5000, 50))
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    order_id = (await app.next("order.offered"))["order"]["id"]

    def records() -> list[AuditRecord]:
        with db.session() as session:
            return list(session.exec(select(AuditRecord).order_by(col(AuditRecord.id))).all())

    async def all_settled() -> bool:
        return all(r.published and r.lease_until is None for r in await asyncio.to_thread(records))

    await wait_until(all_settled)
    passes = 0
    claim = services.outbox._claim

    def counting_claim() -> list[Claimed]:
        nonlocal passes
        passes += 1
        return claim()

    services.outbox._claim = counting_claim  # type: ignore[method-assign]
    for action, state in (("accept", "accepted"), ("arrive", "on_scene")):
        await app.send(type="action", action=action, order_id=order_id, ref=action)
        assert (await app.next("reply", ref=action))["state"] == state
        step = await app.next(f"order.{state}")
        assert step["order"]["id"] == order_id
    assert passes == 0
    # Every step on the board once, in the order written, and settled.
    board = await services.bus.read_since(services.bus.board_stream, "0")
    written = await asyncio.to_thread(records)
    steps = [e.message["audit_id"] for e in board if "audit_id" in e.message]  # not positions
    assert steps == [r.id for r in written]
    await wait_until(all_settled)
    await app.close()
