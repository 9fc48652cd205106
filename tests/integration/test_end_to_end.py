"""The whole path over real services: MQTT press → alert → matcher → WebSocket offer
→ caregiver replies → resolved alert with its full audit trail via the REST API."""

from __future__ import annotations

import asyncio
import threading
import uuid

import httpx
import pytest
from sqlalchemy import text

from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import (
    CENTER,
    LiveClient,
    SmallCity,
    bearer,
    login,
    seed_small_city,
    wait_until,
)


@pytest.fixture
async def city(server: RunningServer) -> SmallCity:
    return await asyncio.to_thread(seed_small_city, server.services.db)


async def on_shift(server: RunningServer, caregiver_id: uuid.UUID, north_deg: float) -> LiveClient:
    token = await login(server.http, server.services.db, "caregiver", caregiver_id=caregiver_id)
    app = await LiveClient.connect(f"{server.ws}/ws/v1/caregivers/{caregiver_id}", token)
    await app.send(type="position", lat=CENTER[0] + north_deg, lon=CENTER[1])
    # Positions are live state in Redis: wait until the matcher can see this one.
    bus = server.services.bus
    await wait_until(lambda: bus.nearby(CENTER[0], CENTER[1], 5000, 50))
    return app


async def test_press_reaches_caregiver_and_resolves_with_full_audit_trail(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher
) -> None:
    supervisor = await login(server.http, server.services.db, "supervisor")
    board = await LiveClient.connect(f"{server.ws}/ws/v1/board", supervisor)
    near = await on_shift(server, city.near_id, 0.0045)

    event_id = await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

    offer = await near.next("order.offered")
    assert offer["elder"]["name"] == "王秀英"
    assert offer["alert"]["device_id"] == city.device_id
    assert offer["order"]["caregiver_id"] == str(city.near_id)
    assert offer["seq"]
    assert offer["stream"] == "caregiver"
    order_id, alert_id = offer["order"]["id"], offer["alert"]["id"]
    await board.next("alert.raised", alert__id=alert_id)
    await board.next("order.offered", order__id=order_id)

    for action, state in [
        ("accept", "accepted"),
        ("en_route", "en_route"),
        ("arrive", "on_scene"),
    ]:
        await near.send(type="action", action=action, order_id=order_id, ref=action)
        reply = await near.next("reply", ref=action)
        assert reply["state"] == state
        await board.next(f"order.{state}", order__id=order_id)
    # Completing closes the alert: not without a closure code from the list.
    for code in (None, "fine"):
        await near.send(
            type="action", action="complete", order_id=order_id, ref=f"c-{code}", code=code
        )
        refused = await near.next("error", ref=f"c-{code}")
        assert refused["code"] == "invalid"
        assert "fall_no_injury" in refused["message"]
    await near.send(
        type="action",
        action="complete",
        order_id=order_id,
        ref="complete",
        code="fall_no_injury",
        note="helped her up",
    )
    assert (await near.next("reply", ref="complete"))["state"] == "completed"
    await board.next("order.completed", order__id=order_id)
    resolved = await board.next("alert.resolved", alert__id=alert_id)
    assert resolved["detail"] == {"code": "fall_no_injury", "note": "helped her up"}

    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        alert = (await http.get(f"/api/v1/alerts/{alert_id}")).json()
        assert alert["state"] == "resolved"
        assert (alert["closure_code"], alert["closure_note"]) == ("fall_no_injury", "helped her up")
        listed = (await http.get("/api/v1/alerts", params={"device_id": city.device_id})).json()
        assert [a["id"] for a in listed] == [alert_id]
        orders = (
            await http.get("/api/v1/orders", params={"alert_id": alert_id, "status": "completed"})
        ).json()
        assert [o["id"] for o in orders] == [order_id]
        trail = (await http.get(f"/api/v1/alerts/{alert_id}/audit")).json()

    steps = [(r["entity"], r["from_state"], r["to_state"]) for r in trail]
    assert steps == [
        ("alert", None, "raised"),
        ("alert", "raised", "dispatching"),
        ("order", None, "offered"),
        ("alert", "dispatching", "offered"),
        ("order", "offered", "accepted"),
        ("alert", "offered", "accepted"),
        ("order", "accepted", "en_route"),
        ("alert", "accepted", "en_route"),
        ("order", "en_route", "on_scene"),
        ("alert", "en_route", "on_scene"),
        ("order", "on_scene", "completed"),
        ("alert", "on_scene", "resolved"),
    ]
    assert trail[0]["actor"] == f"device:{city.device_id}"
    assert trail[2]["actor"] == "system:dispatcher"
    assert trail[2]["detail"]["considered"][0]["caregiver_id"] == str(city.near_id)
    assert all(r["actor"] == f"caregiver:{city.near_id}" for r in trail[4:])
    assert event_id  # the device's id for the press is what the gateway deduplicated on
    await near.close()
    await board.close()


async def test_declined_offer_goes_to_the_next_caregiver(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher
) -> None:
    near = await on_shift(server, city.near_id, 0.0045)
    far = await on_shift(server, city.far_id, 0.018)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

    offer = await near.next("order.offered")
    await near.send(type="action", action="decline", order_id=offer["order"]["id"], ref="no")
    assert (await near.next("reply", ref="no"))["state"] == "declined"

    second = await far.next("order.offered")
    assert second["alert"]["id"] == offer["alert"]["id"]
    assert second["order"]["id"] != offer["order"]["id"]


async def test_fall_goes_to_the_first_aider_even_if_further(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher
) -> None:
    near = await on_shift(server, city.near_id, 0.0045)
    far = await on_shift(server, city.far_id, 0.018)
    await asyncio.to_thread(publisher.publish_event, city.wearable_id, "fall")
    offer = await far.next("order.offered")
    assert offer["alert"]["alert_type"] == "fall"
    assert not [m for m in near.received if m["type"] == "order.offered"]


async def test_caregiver_errors_are_clear_and_keep_the_socket_open(
    server: RunningServer, city: SmallCity
) -> None:
    app = await on_shift(server, city.near_id, 0.0045)
    await app.ws.send("not json")
    assert (await app.next("error"))["code"] == "bad_json"
    await app.send(type="action", action="accept", order_id=str(uuid.uuid4()), ref="x")
    assert (await app.next("error", ref="x"))["code"] == "not_found"
    await app.send(type="action", action="fly", order_id=str(uuid.uuid4()), ref="y")
    assert (await app.next("error", ref="y"))["code"] == "invalid"


async def test_a_phone_that_disconnects_is_offered_nothing(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher
) -> None:
    gone = await on_shift(server, city.near_id, 0.0045)
    far = await on_shift(server, city.far_id, 0.018)
    await gone.close()
    bus = server.services.bus

    async def forgotten() -> bool:
        return str(city.near_id) not in await bus.positions([str(city.near_id)])

    await wait_until(forgotten)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    offer = await far.next("order.offered")
    assert offer["order"]["caregiver_id"] == str(city.far_id)


async def test_a_database_too_busy_answers_unavailable_and_keeps_the_socket_open(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher
) -> None:
    # In a surge a caregiver's action can wait past the busy timeout: the app
    # gets an error to retry on, not a closed socket.
    db = server.services.db
    if db._gate is None:
        pytest.skip("the writers' queue is SQLite's")
    near = await on_shift(server, city.near_id, 0.0045)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    order_id = (await near.next("order.offered"))["order"]["id"]
    busy_timeout_s = db._gate._timeout_s
    db._gate._timeout_s = 0.3
    holding, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        with db.session() as session:
            session.exec(text("UPDATE device SET online = online"))
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        assert await asyncio.to_thread(holding.wait, 30)
        await near.send(type="action", action="accept", order_id=order_id, ref="busy")
        assert (await near.next("error", ref="busy"))["code"] == "unavailable"
    finally:
        release.set()
        await asyncio.to_thread(holder.join)
        db._gate._timeout_s = busy_timeout_s
    await near.send(type="action", action="accept", order_id=order_id, ref="again")
    assert (await near.next("reply", ref="again"))["state"] == "accepted"


async def test_an_answer_is_kept_even_when_publishing_the_step_fails(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher
) -> None:
    """The probe's case: the action was applied, publishing it failed, the app
    retried with the same ref and got illegal_transition. Now the retry gets the
    first answer (the fault is injected into the publishing step only)."""
    near = await on_shift(server, city.near_id, 0.0045)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    offer = await near.next("order.offered")
    order_id = offer["order"]["id"]
    outbox = server.services.outbox
    failures = 0

    async def failing(_claim: object) -> bool:
        nonlocal failures
        failures += 1
        raise RuntimeError("injected: publishing failed")

    # The answer's transaction claims its step; publishing it is this call.
    outbox.publish_claimed = failing
    try:
        await near.send(type="action", action="accept", order_id=order_id, ref="acc-1")
        first = await near.next("reply", ref="acc-1")
        await wait_until(lambda: _true(failures >= 1))
        await near.send(type="action", action="accept", order_id=order_id, ref="acc-1")
        again = await near.next("reply", ref="acc-1")
    finally:
        del outbox.publish_claimed
    assert first["state"] == "accepted"
    assert again["repeated"] is True
    assert again["state"] == "accepted"


async def _true(value: bool) -> bool:
    return value
