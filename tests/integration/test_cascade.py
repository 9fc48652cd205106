"""The responder cascade on real services: the server's own loops (dispatcher,
cascade, notifier), the SMS provider's local stand-in, SQLite and PostgreSQL.
A press nobody can reach in time reaches the key-holder first; a no asks the
next at once; silence past the timeout moves on; a yes ends it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import col, select

from config.settings import Settings
from dispatch.domain.cascade import CascadeRule
from dispatch.notify.cascade import Cascade
from dispatch.notify.rules import load
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, ElderContact, Notification
from simulators.devices import DevicePublisher
from simulators.sms_provider import AliyunSmsStandIn
from tests.conftest import RunningServer
from tests.helpers import bearer, login, seed_small_city, wait_until
from tests.integration.test_notifications import KEY_ID, SECRET, press

CASCADE_TEMPLATE = load().templates["cascade"]


@pytest.fixture
def provider() -> Iterator[AliyunSmsStandIn]:
    with AliyunSmsStandIn({KEY_ID: SECRET}) as stand_in:
        yield stand_in


@pytest.fixture
def settings(settings: Settings, provider: AliyunSmsStandIn) -> Settings:
    """The server's own SMS settings point at the stand-in: its notifier and
    cascade loops run."""
    return settings.model_copy(
        update={
            "sms_provider": "aliyun",
            "sms_aliyun_endpoint": provider.url,
            "sms_aliyun_access_key_id": KEY_ID,
            "sms_aliyun_access_key_secret": SECRET,
            "sms_aliyun_sign_name": "东城区居家养老",
        }
    )


def add_contacts(db: Database, elder_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """The daughter first in the calling order; a neighbour with a key; one without."""
    people = [
        ElderContact(
            elder_id=elder_id,
            position=0,
            name="王丽",
            relation="女儿",
            role="family",
            phones=["13800138001"],
        ),
        ElderContact(
            elder_id=elder_id,
            position=1,
            name="李叔",
            relation="邻居",
            role="neighbour",
            phones=["13800138003"],
        ),
        ElderContact(
            elder_id=elder_id,
            position=2,
            name="赵阿姨",
            relation="邻居",
            role="neighbour",
            phones=["13800138002"],
            key_holder=True,
        ),
    ]
    with db.session() as session:
        session.add_all(people)
    return {p.name: p.id for p in people}


def asked_to_go(provider: AliyunSmsStandIn) -> list[str]:
    """The phones the cascade's question went to, in order."""
    return [s["PhoneNumbers"] for s in provider.sent if s["TemplateCode"] == CASCADE_TEMPLATE]


def cascade_steps(db: Database, alert_id: uuid.UUID) -> list[tuple[str, dict[str, object]]]:
    with db.read() as session:
        rows = session.exec(
            select(AuditRecord)
            .where(
                AuditRecord.alert_id == alert_id,
                col(AuditRecord.action).like("cascade%"),
            )
            .order_by(col(AuditRecord.id))
        ).all()
        return [(r.action or "", r.detail) for r in rows]


async def test_a_press_nobody_can_reach_in_time_reaches_the_key_holder_first(
    server: RunningServer, publisher: DevicePublisher, provider: AliyunSmsStandIn
) -> None:
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)  # no caregiver's phone is on
    contacts = await asyncio.to_thread(add_contacts, db, city.elder_id)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

    async def key_holder_asked() -> list[str]:
        return asked_to_go(provider)

    assert await wait_until(key_holder_asked, timeout_s=30) == ["13800138002"]
    with db.read() as session:
        alert = session.exec(select(Alert).where(Alert.device_id == city.device_id)).one()
    started, asked = (await asyncio.to_thread(cascade_steps, db, alert.id))[:2]
    assert started[0] == "cascade_started"
    assert started[1]["order"] == ["赵阿姨", "李叔", "王丽"]
    assert started[1]["reason"] == alert.escalation_reason
    assert started[1]["contacts_alone"] is False  # a press is not a medical alert
    assert asked == ("cascade_asked", {"round": 1, "contacts": ["赵阿姨"]})
    # The cascade took nothing away: the alert is still the dispatcher's and open.
    assert alert.state.value in ("escalated", "dispatching", "offered")

    operator = await login(server.http, db, "operator", areas=("东城区",))
    url = f"/api/v1/alerts/{alert.id}/cascade"
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        assert (await http.post(url)).status_code == 409  # started already
        # She cannot come: the next is asked at once, not after the timeout.
        no = await http.post(
            f"{url}/answer", json={"contact_id": str(contacts["赵阿姨"]), "answer": "no"}
        )
        assert no.status_code == 200, no.text
        assert no.json()["status"] == "declined"

        async def next_asked() -> bool:
            return asked_to_go(provider) == ["13800138002", "13800138003"]

        await wait_until(next_asked, timeout_s=30)
        # Bad input: a contact never asked is a 404; an answer not yes/no a 422.
        never = await http.post(
            f"{url}/answer", json={"contact_id": str(contacts["王丽"]), "answer": "yes"}
        )
        assert never.status_code == 404
        maybe = await http.post(
            f"{url}/answer", json={"contact_id": str(contacts["李叔"]), "answer": "maybe"}
        )
        assert maybe.status_code == 422
        yes = await http.post(
            f"{url}/answer", json={"contact_id": str(contacts["李叔"]), "answer": "yes"}
        )
        assert yes.json()["status"] == "acknowledged"
        listed = (await http.get(f"/api/v1/alerts/{alert.id}/notifications")).json()
    asks = [(n["contact_name"], n["status"]) for n in listed if n["step"] == "cascade"]
    assert asks == [("赵阿姨", "declined"), ("李叔", "acknowledged")]
    await asyncio.sleep(3)  # a pass or two of the loops: nobody else is asked
    assert asked_to_go(provider) == ["13800138002", "13800138003"]
    actions = [a for a, _ in await asyncio.to_thread(cascade_steps, db, alert.id)]
    assert actions == [
        "cascade_started",
        "cascade_asked",
        "cascade_answered",
        "cascade_asked",
        "cascade_answered",
    ]


RULE = CascadeRule(
    when=frozenset({"everyone too far"}),
    roles=frozenset({"neighbour", "family"}),
    at_once=2,
    timeout_s=120,
    medical_types=frozenset({"press"}),
)


async def test_silence_moves_the_cascade_on_after_the_timeout_until_nobody_is_left(
    db: Database,
) -> None:
    """The loop's own clock, without the server: a round at a time, two at once."""
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    alert_id = await asyncio.to_thread(press, db, city.elder_id)
    with db.session() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        alert.escalation_reason = "everyone too far"
        session.add(alert)
    cascade = Cascade(db, RULE)
    t0 = datetime.now(UTC)
    assert await cascade.pass_once(t0) == 2  # started, and the first round asked
    assert await cascade.pass_once(t0 + timedelta(seconds=119)) == 0  # still waiting
    assert await cascade.pass_once(t0 + timedelta(seconds=121)) == 1  # the next round
    assert await cascade.pass_once(t0 + timedelta(seconds=242)) == 1  # nobody left
    assert await cascade.pass_once(t0 + timedelta(seconds=400)) == 0  # over
    steps = await asyncio.to_thread(cascade_steps, db, alert_id)
    assert [(a, d.get("contacts")) for a, d in steps] == [
        ("cascade_started", None),
        ("cascade_asked", ["赵阿姨", "李叔"]),
        ("cascade_asked", ["王丽"]),
        ("cascade_exhausted", None),
    ]
    # A "medical" alert (by this rule) with no caregiver and no 120 on it: said so.
    assert steps[0][1]["contacts_alone"] is True
    with db.read() as session:
        queued = session.exec(select(Notification).where(Notification.alert_id == alert_id)).all()
    assert sorted(n.contact_name for n in queued if n.step == "cascade") == [
        "李叔",
        "王丽",
        "赵阿姨",
    ]
    # Started once only, whoever asks again.
    assert await Cascade(db, RULE).pass_once(t0 + timedelta(seconds=500)) == 0


async def test_a_contact_outside_their_hours_is_passed_over_while_they_last(
    db: Database,
) -> None:
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    t0 = datetime.now(UTC)
    local = t0.astimezone(ZoneInfo("Asia/Shanghai"))
    asleep = f"{local + timedelta(hours=2):%H:%M}-{local + timedelta(hours=3):%H:%M}"
    with db.session() as session:
        key_holder = session.exec(select(ElderContact).where(ElderContact.name == "赵阿姨")).one()
        key_holder.hours = asleep  # reachable only later today
        session.add(key_holder)
    alert_id = await asyncio.to_thread(press, db, city.elder_id)
    with db.session() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        alert.escalation_reason = "everyone too far"
        session.add(alert)
    await Cascade(db, RULE, timezone="Asia/Shanghai").pass_once(t0)
    steps = await asyncio.to_thread(cascade_steps, db, alert_id)
    # The key-holder would come first; outside her hours the next two are asked.
    assert steps[1] == ("cascade_asked", {"round": 1, "contacts": ["李叔", "王丽"]})
