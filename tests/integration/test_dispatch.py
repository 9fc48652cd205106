"""The dispatcher with real Redis positions and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from config.settings import Settings
from dispatch.domain.lifecycle import AlertState, OrderState, VisitState
from dispatch.emergency import dispatcher as dispatcher_module
from dispatch.emergency.dispatcher import Dispatcher, DispatchPolicy
from dispatch.emergency.orders import CaregiverAction, act_on_order
from dispatch.live import outbox as outbox_module
from dispatch.live.bus import LiveBus
from dispatch.live.outbox import Claimed, Outbox
from dispatch.matching.travel import DetourTravelModel
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, Caregiver, Device, Elder, Order, Visit
from simulators import local_services
from tests.helpers import CENTER


class City:
    """A dispatcher over a tiny city whose caregivers the test places by hand."""

    def __init__(self, db: Database, bus: LiveBus, dispatcher: Dispatcher) -> None:
        self.db, self.bus, self.dispatcher = db, bus, dispatcher
        self.elder = Elder(
            name="赵淑华", address="南星街道紫阳社区8幢1单元502室", lat=CENTER[0], lon=CENTER[1]
        )
        with db.session() as session:
            session.add(self.elder)

    async def caregiver(
        self, north_m: float, skills: tuple[str, ...] = ("basic_care",), seen_s_ago: float = 0.0
    ) -> uuid.UUID:
        cg = Caregiver(
            name=f"护理员{north_m:.0f}",
            skills=list(skills),
            shift_start=clock(0, 0),
            shift_end=clock(23, 59, 59),
            transport="ebike",
            home_lat=CENTER[0],
            home_lon=CENTER[1],
        )
        await self.db.run(self._add, cg)
        await self.bus.set_position(str(cg.id), CENTER[0] + north_m / 111_195, CENTER[1])
        if seen_s_ago:
            await self.bus.redis.hset(
                f"{self.bus.prefix}:caregivers:seen", str(cg.id), str(time.time() - seen_s_ago)
            )
        return cg.id

    def _add(self, row: object) -> None:
        with self.db.session() as session:
            session.add(row)

    def raise_alert(
        self, alert_type: str, seconds_ago: float = 0, lat: float = CENTER[0]
    ) -> uuid.UUID:
        at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
        kind = self.dispatcher.catalog.alert_types.get(alert_type)
        alert = Alert(
            device_id="unused",
            elder_id=self.elder.id,
            alert_type=alert_type,
            severity=kind.severity.value if kind else "high",
            raised_at=at,
            deadline_at=at + timedelta(seconds=kind.arrival_deadline_s if kind else 600),
            device_ts=at,
            updated_at=at,
            lat=lat,
            lon=CENTER[1],
        )
        with self.db.session() as session:
            session.add(alert)
        return alert.id

    def alert(self, alert_id: uuid.UUID) -> Alert:
        with self.db.session() as session:
            alert = session.get(Alert, alert_id)
            assert alert is not None
            return alert

    def orders(self, alert_id: uuid.UUID) -> list[Order]:
        with self.db.session() as session:
            query = select(Order).where(Order.alert_id == alert_id).order_by(col(Order.offered_at))
            return list(session.exec(query).all())

    def act(self, order: Order, action: CaregiverAction) -> None:
        act_on_order(self.db, order.caregiver_id, order.id, action, at=datetime.now(UTC))


@pytest.fixture
async def city(database_url: str, redis_server: local_services.LocalServer) -> AsyncIterator[City]:
    db = Database(Settings(database_url=database_url).database_url)
    db.create_schema()
    # The foreign key to the device is real: register the one the alerts name.
    with db.session() as session:
        session.add(Device(id="unused", kind="panic_button"))
    bus = LiveBus.from_url(redis_server.url, f"t-{uuid.uuid4().hex[:8]}")
    dispatcher = Dispatcher(
        db,
        bus,
        Outbox(db, bus),
        load_catalog(Settings().alert_types_file),
        DetourTravelModel(),
        tz=ZoneInfo("Asia/Shanghai"),
        policy=DispatchPolicy(offer_timeout_s=0.3),
    )
    yield City(db, bus, dispatcher)
    await bus.close()
    db.dispose()


async def test_unanswered_offer_expires_and_goes_to_the_next_caregiver(city: City) -> None:
    near = await city.caregiver(300)
    far = await city.caregiver(1500)
    alert_id = city.raise_alert("help_button")
    await city.dispatcher.run_round()
    [first] = city.orders(alert_id)
    assert first.caregiver_id == near
    await asyncio.sleep(0.4)  # past the 0.3 s offer timeout
    await city.dispatcher.run_round()
    first, second = city.orders(alert_id)
    assert first.state == OrderState.EXPIRED
    assert (second.caregiver_id, second.state) == (far, OrderState.OFFERED)
    # Nobody is offered the same alert twice: with both tried, it escalates.
    await asyncio.sleep(0.4)
    await city.dispatcher.run_round()
    alert = city.alert(alert_id)
    assert alert.state == AlertState.ESCALATED
    assert alert.escalation_reason == "nobody answered"


async def test_no_one_with_the_skill_escalates_with_the_reason_and_audit(city: City) -> None:
    await city.caregiver(200, ("basic_care",))
    alert_id = city.raise_alert("fall")
    await city.dispatcher.run_round()
    alert = city.alert(alert_id)
    assert (alert.state, alert.escalation_reason) == (
        AlertState.ESCALATED,
        "no one with the skill on shift",
    )
    with city.db.session() as session:
        record = session.exec(select(AuditRecord).where(AuditRecord.to_state == "escalated")).one()
    assert record.detail["escalation"] == "no one with the skill on shift"
    # A first-aider coming on shift takes it from the escalated state.
    nurse = await city.caregiver(900, ("basic_care", "first_aid"))
    await city.dispatcher.run_round()
    assert city.alert(alert_id).state == AlertState.OFFERED
    assert [o.caregiver_id for o in city.orders(alert_id)] == [nurse]


async def test_caregiver_whose_app_went_silent_is_not_offered(city: City) -> None:
    await city.caregiver(100, seen_s_ago=900)
    awake = await city.caregiver(2000)
    alert_id = city.raise_alert("help_button")
    await city.dispatcher.run_round()
    assert [o.caregiver_id for o in city.orders(alert_id)] == [awake]


async def test_caregiver_already_on_an_emergency_is_not_offered_another(city: City) -> None:
    first_cg = await city.caregiver(100)
    first = city.raise_alert("help_button")
    await city.dispatcher.run_round()
    [order] = city.orders(first)
    city.act(order, CaregiverAction.ACCEPT)
    second_cg = await city.caregiver(3000)
    second = city.raise_alert("door_bell")
    await city.dispatcher.run_round()
    assert [o.caregiver_id for o in city.orders(second)] == [second_cg]
    assert first_cg != second_cg


async def test_two_person_alert_is_offered_to_two_and_resolves_when_both_are_done(
    city: City,
) -> None:
    a, b = await city.caregiver(200), await city.caregiver(400)
    await city.caregiver(3000)
    alert_id = city.raise_alert("lift_assist")
    await city.dispatcher.run_round()
    orders = city.orders(alert_id)
    assert {o.caregiver_id for o in orders} == {a, b}
    first, second = orders
    city.act(first, CaregiverAction.ACCEPT)
    city.act(first, CaregiverAction.ARRIVE)
    assert city.alert(alert_id).state == AlertState.ON_SCENE
    city.act(second, CaregiverAction.DECLINE)
    await city.dispatcher.run_round()  # the missing second caregiver is offered again
    third = [o for o in city.orders(alert_id) if o.state == OrderState.OFFERED]
    assert len(third) == 1
    assert third[0].caregiver_id not in {a, b}
    city.act(third[0], CaregiverAction.ACCEPT)
    city.act(first, CaregiverAction.COMPLETE)
    assert city.alert(alert_id).state == AlertState.ON_SCENE  # one is still there
    city.act(third[0], CaregiverAction.ARRIVE)
    city.act(third[0], CaregiverAction.COMPLETE)
    assert city.alert(alert_id).state == AlertState.RESOLVED


async def test_critical_alert_diverts_a_caregiver_from_a_planned_visit(city: City) -> None:
    visiting = await city.caregiver(150, ("basic_care", "first_aid"))
    now = datetime.now(UTC)
    visit = Visit(
        caregiver_id=visiting,
        elder_id=city.elder.id,
        service="meal_assist",
        day=now.date(),
        window_start=now - timedelta(minutes=10),
        window_end=now + timedelta(hours=1),
        state=VisitState.IN_PROGRESS,
    )
    await city.db.run(city._add, visit)

    press = city.raise_alert("help_button")  # not critical: the visit is not interrupted
    await city.dispatcher.run_round()
    assert city.orders(press) == []
    fall = city.raise_alert("fall")
    await city.dispatcher.run_round()
    [order] = city.orders(fall)
    assert order.caregiver_id == visiting
    city.act(order, CaregiverAction.ACCEPT)
    with city.db.session() as session:
        assert session.get(Visit, visit.id).needs_replan is True  # type: ignore[union-attr]


async def test_a_call_back_first_alert_waits_for_an_operator(city: City) -> None:
    await city.caregiver(300)
    alert_id = city.raise_alert("heart_rate")  # the catalogue says: call back first
    await city.dispatcher.run_round()
    assert city.orders(alert_id) == []
    help_id = city.raise_alert("help_button")
    await city.dispatcher.run_round()
    assert len(city.orders(help_id)) == 1  # the matcher is alive; it only left the first one


async def test_an_alert_that_breaks_the_round_is_escalated_and_the_others_are_offered(
    city: City,
) -> None:
    # Latitude 89 passes the device schema, but Redis GEO refuses it (beyond ±85.05):
    # before, the whole round failed, again and again, and every alert claimed with
    # it waited.
    helpers = [await city.caregiver(300 + 200 * i) for i in range(3)]
    healthy = [city.raise_alert("help_button", seconds_ago=3 - i) for i in range(3)]
    poison = city.raise_alert("help_button", seconds_ago=10, lat=89.0)
    await city.dispatcher.run_round()
    offered = {o.caregiver_id for a in healthy for o in city.orders(a)}
    assert offered == set(helpers)
    assert all(city.alert(a).state == AlertState.OFFERED for a in healthy)
    alert = city.alert(poison)
    assert (alert.state, alert.escalation_reason) == (
        AlertState.ESCALATED,
        "cannot be dispatched automatically",
    )
    assert city.orders(poison) == []
    with city.db.session() as session:
        record = session.exec(
            select(AuditRecord).where(
                AuditRecord.alert_id == poison, AuditRecord.to_state == "escalated"
            )
        ).one()
    assert "ResponseError" in record.detail["reason"]
    # Held out of the next rounds: they neither fail nor write it again.
    await city.dispatcher.run_round()
    with city.db.session() as session:
        records = session.exec(select(AuditRecord).where(AuditRecord.alert_id == poison)).all()
    assert [r.to_state for r in records] == ["dispatching", "escalated"]


async def test_an_alert_of_a_type_no_longer_configured_is_escalated_alone(city: City) -> None:
    await city.caregiver(300)
    removed = city.raise_alert("type_removed_from_config", seconds_ago=5)
    healthy = city.raise_alert("help_button")
    await city.dispatcher.run_round()
    assert city.alert(healthy).state == AlertState.OFFERED
    alert = city.alert(removed)
    assert (alert.state, alert.escalation_reason) == (
        AlertState.ESCALATED,
        "cannot be dispatched automatically",
    )
    with city.db.session() as session:
        record = session.exec(
            select(AuditRecord).where(
                AuditRecord.alert_id == removed, AuditRecord.to_state == "escalated"
            )
        ).one()
    assert "KeyError" in record.detail["reason"]


async def test_a_new_alert_is_decided_before_escalated_ones_are_tried_again(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A surge: more alerts wait for a caregiver to come free than a round claims.
    # The oldest first kept claiming those, and a new alert waited minutes.
    monkeypatch.setattr(dispatcher_module, "CLAIM_BATCH", 2)
    helper = await city.caregiver(300)
    waiting = [city.raise_alert("fall", seconds_ago=60 - i) for i in range(2)]  # no first-aider
    await city.dispatcher.run_round()
    assert all(city.alert(a).state == AlertState.ESCALATED for a in waiting)
    new = city.raise_alert("help_button")
    await city.dispatcher.run_round()
    assert [o.caregiver_id for o in city.orders(new)] == [helper]


async def test_escalated_alerts_are_tried_again_in_turn(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More alerts wait for a caregiver than a round tries again: each round
    # takes the ones tried least recently, so none waits behind the oldest.
    monkeypatch.setattr(dispatcher_module, "RETRY_BATCH", 1)
    await city.caregiver(300)  # no first-aider: a fall escalates
    older, newer = (city.raise_alert("fall", seconds_ago=60 - i) for i in range(2))
    await city.dispatcher.run_round()  # both new: both decided
    first_try = {a: city.alert(a).claimed_until for a in (older, newer)}
    assert all(city.alert(a).state == AlertState.ESCALATED for a in (older, newer))
    await city.dispatcher.run_round()  # one of them
    await city.dispatcher.run_round()  # the other
    for alert_id in (older, newer):
        tried = city.alert(alert_id).claimed_until
        assert tried is not None
        assert first_try[alert_id] is not None
        assert tried > first_try[alert_id]


async def test_a_caregiver_row_with_a_shift_of_no_length_is_left_out_not_fatal(
    city: City,
) -> None:
    # Written before the API refused it: a shift that starts when it ends. Before,
    # the dispatcher's round raised on it, and every alert stayed raised.
    broken = await city.caregiver(100)
    with city.db.session() as session:
        row = session.get(Caregiver, broken)
        assert row is not None
        row.shift_end = row.shift_start
        session.add(row)
    sound = await city.caregiver(600)
    alert_id = city.raise_alert("help_button")
    await city.dispatcher.run_round()
    assert city.alert(alert_id).state == AlertState.OFFERED
    assert [o.caregiver_id for o in city.orders(alert_id)] == [sound]


async def settled(db: Database) -> None:
    """Wait until every record is marked published: by the next claim, or soon
    after by a settle of its own (not by one transaction per publish)."""
    deadline = time.monotonic() + 20 * outbox_module.SETTLE_AFTER_S

    def unsettled() -> list[AuditRecord]:
        with db.session() as session:
            records = session.exec(select(AuditRecord)).all()
            return [r for r in records if not r.published or r.lease_until is not None]

    while await asyncio.to_thread(unsettled):
        assert time.monotonic() < deadline, "published records left unsettled"
        await asyncio.sleep(0.05)


async def test_a_rounds_offers_go_live_without_an_outbox_pass_of_their_own(city: City) -> None:
    # The round's transaction claims its events: no claim transaction of the
    # outbox's own stands between the committed offer and the caregiver's stream.
    caregiver = await city.caregiver(300)
    alert_id = city.raise_alert("help_button")
    outbox = city.dispatcher.outbox
    passes = 0
    claim = outbox._claim

    def counting_claim() -> list[Claimed]:
        nonlocal passes
        passes += 1
        return claim()

    outbox._claim = counting_claim  # type: ignore[method-assign]
    await city.dispatcher.run_round()
    assert passes == 0
    [order] = city.orders(alert_id)
    to_caregiver = await city.bus.read_since(city.bus.caregiver_stream(str(caregiver)), "0")
    assert [(e.message["type"], e.message["order"]["id"]) for e in to_caregiver] == [
        ("order.offered", str(order.id))
    ]
    # The board has every step, in the order they were written, each once.
    board = await city.bus.read_since(city.bus.board_stream, "0")
    audit_ids = [e.message["audit_id"] for e in board]

    def written() -> list[AuditRecord]:
        with city.db.session() as session:
            return list(session.exec(select(AuditRecord).order_by(col(AuditRecord.id))).all())

    assert audit_ids == [r.id for r in written()]
    await settled(city.db)


async def test_a_round_with_nothing_to_do_writes_and_publishes_nothing(city: City) -> None:
    # Every raised alert wakes this process's dispatcher twice (the gateway, then
    # the stream): the second round finds it claimed and must not cost an empty
    # claim transaction of the outbox's.
    await city.caregiver(300)
    alert_id = city.raise_alert("help_button")
    city.dispatcher.policy = replace(city.dispatcher.policy, offer_timeout_s=600)
    await city.dispatcher.run_round()
    outbox = city.dispatcher.outbox
    passes = 0
    claim = outbox._claim

    def counting_claim() -> list[Claimed]:
        nonlocal passes
        passes += 1
        return claim()

    outbox._claim = counting_claim  # type: ignore[method-assign]
    await city.dispatcher.run_round()
    assert passes == 0
    [order] = city.orders(alert_id)
    assert order.state == OrderState.OFFERED  # untouched by the second round
    # An offer that expires is a step written: that round publishes it.
    with city.db.session() as session:
        session.exec(  # type: ignore[call-overload]
            update(Order).where(col(Order.id) == order.id).values(expires_at=datetime.now(UTC))
        )
    await city.dispatcher.run_round()
    board = await city.bus.read_since(city.bus.board_stream, "0")
    assert "order.expired" in [e.message["type"] for e in board]
    await settled(city.db)
