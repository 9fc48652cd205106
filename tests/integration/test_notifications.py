"""Notifications to an elder's contacts, on real services: the database (SQLite and
PostgreSQL), the broker for the press, and the SMS provider's local stand-in
(simulators/sms_provider.py), which checks every request's signature."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import col, select

from config.settings import Settings
from dispatch.domain.access import Principal, Role
from dispatch.domain.actor import DISPATCHER, Actor
from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.domain.model import AlertType, Severity
from dispatch.notify.aliyun import AliyunSms
from dispatch.notify.notifier import Notifier
from dispatch.notify.rules import load, parse
from dispatch.registry.elders import change_elder
from dispatch.store.audit import move_alert, move_order, raise_alert
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, Elder, ElderContact, Notification, Order
from simulators.devices import DevicePublisher
from simulators.sms_provider import AliyunSmsStandIn
from tests.conftest import RunningServer
from tests.helpers import CENTER, bearer, login, seed_small_city, wait_until

KEY_ID, SECRET = "LTAI-carebell-notify", "notify-secret"


@pytest.fixture
def provider() -> Iterator[AliyunSmsStandIn]:
    with AliyunSmsStandIn({KEY_ID: SECRET}) as stand_in:
        yield stand_in


def sms(url: str, secret: str = SECRET) -> AliyunSms:
    return AliyunSms(
        endpoint=url, access_key_id=KEY_ID, access_key_secret=secret, sign_name="东城区居家养老"
    )


def add_contacts(db: Database, elder_id: uuid.UUID) -> None:
    with db.session() as session:
        session.add(
            ElderContact(
                elder_id=elder_id,
                position=0,
                name="王丽",
                relation="女儿",
                role="family",
                phones=["13800138001"],
            )
        )
        session.add(  # a neighbour without a key is told of nothing by the shipped rules
            ElderContact(
                elder_id=elder_id,
                position=1,
                name="赵阿姨",
                relation="邻居",
                role="neighbour",
                phones=["13800138002"],
            )
        )


PRESS = AlertType("press", Severity.HIGH, frozenset({"basic_care"}), 900, "press", "呼叫")


def press(db: Database, elder_id: uuid.UUID) -> uuid.UUID:
    """An alert raised for the elder and audited, as the ingest path does."""
    now = datetime.now(UTC)
    with db.session() as session:
        alert = raise_alert(
            session,
            PRESS,
            device_id=None,
            elder=session.get(Elder, elder_id),
            lat=CENTER[0],
            lon=CENTER[1],
            at=now,
            device_ts=now,
            actor=Actor.device("test"),
        )
        return alert.id


def notices(db: Database, alert_id: uuid.UUID) -> list[Notification]:
    with db.session() as session:
        return list(
            session.exec(
                select(Notification)
                .where(Notification.alert_id == alert_id)
                .order_by(col(Notification.created_at))
            ).all()
        )


def timeline_notes(db: Database, alert_id: uuid.UUID) -> list[dict[str, str]]:
    with db.session() as session:
        return [
            r.detail
            for r in session.exec(
                select(AuditRecord).where(
                    AuditRecord.alert_id == alert_id, AuditRecord.action == "notified"
                )
            ).all()
        ]


async def test_a_press_sends_the_family_a_signed_sms_once_and_puts_it_on_the_timeline(
    db: Database, provider: AliyunSmsStandIn
) -> None:
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    alert_id = await asyncio.to_thread(press, db, city.elder_id)
    notifier = Notifier(db, load(), {"sms": sms(provider.url)})

    await notifier.pass_once()
    await notifier.pass_once()  # a second pass neither makes nor sends it again

    [sent] = provider.sent  # the stand-in accepted it: its own signature check passed
    assert sent["PhoneNumbers"] == "13800138001"
    assert sent["TemplateCode"] == "SMS_CAREBELL_RAISED"
    assert '"elder": "王秀英"' in sent["TemplateParam"]
    [notice] = notices(db, alert_id)
    assert (notice.contact_name, notice.step, notice.channel) == ("王丽", "raised", "sms")
    assert (notice.status, notice.attempts, notice.error) == ("sent", 1, "")
    assert notice.provider_id == sent["BizId"]
    [note] = timeline_notes(db, alert_id)
    assert (note["contact"], note["status"], note["step"]) == ("王丽", "sent", "raised")


async def test_a_notifier_started_later_still_tells_of_a_step_committed_before(
    db: Database, provider: AliyunSmsStandIn
) -> None:
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    first = Notifier(db, load(), {"sms": sms(provider.url)})
    await first.pass_once()
    alert_id = await asyncio.to_thread(press, db, city.elder_id)
    # The first notifier died before seeing the step; a new one looks back for it.
    await Notifier(db, load(), {"sms": sms(provider.url)}).pass_once()
    assert [n.status for n in notices(db, alert_id)] == ["sent"]
    await first.pass_once()  # and the old one, back, makes no second notice
    assert len(provider.sent) == 1


async def test_a_refused_sms_is_failed_with_the_providers_reason(
    db: Database, provider: AliyunSmsStandIn
) -> None:
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    alert_id = await asyncio.to_thread(press, db, city.elder_id)
    refused = sms(provider.url, secret="not the secret")

    await Notifier(db, load(), {"sms": refused}).pass_once()

    assert provider.sent == []
    [notice] = notices(db, alert_id)
    assert (notice.status, notice.channel, notice.attempts) == ("failed", "sms", 1)
    assert "SignatureDoesNotMatch" in notice.error
    [note] = timeline_notes(db, alert_id)
    assert note["status"] == "failed"
    assert "SignatureDoesNotMatch" in note["error"]


def send_on_the_way(db: Database, alert_id: uuid.UUID, caregiver_id: uuid.UUID) -> None:
    """The caregiver took the offer five minutes ago with nine minutes to go, and
    now sets off."""
    now = datetime.now(UTC)
    with db.session() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        for state in (AlertState.DISPATCHING, AlertState.OFFERED):
            move_alert(session, alert, state, actor=DISPATCHER, at=now)
        order = Order(
            alert_id=alert_id,
            caregiver_id=caregiver_id,
            offered_at=now - timedelta(minutes=5),
            expires_at=now + timedelta(minutes=1),
            updated_at=now,
            eta_s=9 * 60,
            distance_m=2000,
        )
        session.add(order)
        for target in (OrderState.ACCEPTED, OrderState.EN_ROUTE):
            move_order(
                session, order, alert, target, actor=Actor.caregiver(order.caregiver_id), at=now
            )


async def test_the_family_hears_who_is_on_the_way_and_about_how_long(
    db: Database, provider: AliyunSmsStandIn
) -> None:
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    alert_id = await asyncio.to_thread(press, db, city.elder_id)
    notifier = Notifier(db, load(), {"sms": sms(provider.url)})
    await notifier.pass_once()
    await asyncio.to_thread(send_on_the_way, db, alert_id, city.near_id)

    await notifier.pass_once()

    assert [m["TemplateCode"] for m in provider.sent] == [
        "SMS_CAREBELL_RAISED",
        "SMS_CAREBELL_EN_ROUTE",
    ]
    on_the_way = json.loads(provider.sent[1]["TemplateParam"])
    assert (on_the_way["caregiver"], on_the_way["eta_min"]) == ("李桂兰", "4")
    assert [n.step for n in notices(db, alert_id)] == ["raised", "en_route"]


async def test_a_notice_being_sent_is_sent_by_one_notifier_and_resent_if_it_died(
    db: Database, provider: AliyunSmsStandIn
) -> None:
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    alert_id = await asyncio.to_thread(press, db, city.elder_id)
    notifier = Notifier(db, load(), {"sms": sms(provider.url)})
    await asyncio.to_thread(notifier.enqueue)
    [notice] = notices(db, alert_id)
    assert notice.status == "queued"
    # Another process claims it, then dies before sending.
    assert await asyncio.to_thread(Notifier(db, load(), {})._claim, notice.id) is not None
    assert await notifier.send(notice.id) is None  # taken: this one leaves it alone
    assert provider.sent == []

    with db.session() as session:  # the dead process's lease runs out
        claimed = session.get(Notification, notice.id)
        assert claimed is not None
        assert claimed.status == "sending"
        claimed.updated_at = datetime.now(UTC) - timedelta(minutes=3)
        session.add(claimed)
    await notifier.pass_once()

    assert len(provider.sent) == 1
    assert [n.status for n in notices(db, alert_id)] == ["sent"]


async def test_a_phone_the_provider_refuses_falls_back_to_the_contacts_next_phone(
    db: Database, provider: AliyunSmsStandIn
) -> None:
    city = await asyncio.to_thread(seed_small_city, db)
    with db.session() as session:
        session.add(
            ElderContact(
                elder_id=city.elder_id,
                position=0,
                name="王强",
                relation="儿子",
                role="family",
                phones=["010-6512-3456", "13800138009"],  # a landline SMS cannot reach first
            )
        )
    alert_id = await asyncio.to_thread(press, db, city.elder_id)

    await Notifier(db, load(), {"sms": sms(provider.url)}).pass_once()

    assert [m["PhoneNumbers"] for m in provider.sent] == ["13800138009"]
    [notice] = notices(db, alert_id)
    assert (notice.status, notice.phone, notice.attempts) == ("sent", "13800138009", 2)
    assert "isv.MOBILE_NUMBER_ILLEGAL" in notice.error


RULES_WITH_FALLBACK = {
    "templates": {"raised": "SMS_CAREBELL_RAISED"},
    "rules": [
        {
            "name": "family, with a second provider",
            "roles": ["family"],
            "steps": ["raised"],
            "channels": ["sms", "sms_backup"],
        }
    ],
}


async def test_a_failed_channel_falls_back_to_the_next_and_keeps_the_first_reason(
    db: Database, provider: AliyunSmsStandIn
) -> None:
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    alert_id = await asyncio.to_thread(press, db, city.elder_id)
    channels = {"sms": sms(provider.url, secret="not the secret"), "sms_backup": sms(provider.url)}

    await Notifier(db, parse(RULES_WITH_FALLBACK), channels).pass_once()

    [sent] = provider.sent
    assert sent["PhoneNumbers"] == "13800138001"
    [notice] = notices(db, alert_id)
    assert (notice.status, notice.channel, notice.attempts) == ("sent", "sms_backup", 2)
    assert notice.error.startswith("sms 13800138001: SignatureDoesNotMatch")


async def test_a_contact_is_told_within_their_hours_and_held_outside_them(
    db: Database, provider: AliyunSmsStandIn
) -> None:
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    # Her hours begin two hours from now and last an hour.
    begin, end = local + timedelta(hours=2), local + timedelta(hours=3)
    hours = f"{begin:%H:%M}-{end:%H:%M}"
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    with db.session() as session:
        daughter = session.exec(select(ElderContact).where(ElderContact.name == "王丽")).one()
        daughter.hours = hours
        session.add(daughter)
    alert_id = await asyncio.to_thread(press, db, city.elder_id)
    notifier = Notifier(db, load(), {"sms": sms(provider.url)}, timezone="Asia/Shanghai")

    await notifier.pass_once(now + timedelta(seconds=1))
    [held] = notices(db, alert_id)
    assert (held.status, held.error) == ("held", f"outside the contact's hours {hours}")
    assert provider.sent == []
    await notifier.pass_once(now + timedelta(hours=1))  # still outside them
    assert notices(db, alert_id)[0].status == "held"

    await notifier.pass_once(now + timedelta(hours=2, minutes=5))
    [sent] = notices(db, alert_id)
    assert (sent.status, sent.error) == ("sent", "")
    assert [s["PhoneNumbers"] for s in provider.sent] == ["13800138001"]


@pytest.fixture
def settings(settings: Settings, provider: AliyunSmsStandIn) -> Settings:
    """The server's own SMS settings point at the stand-in."""
    return settings.model_copy(
        update={
            "sms_provider": "aliyun",
            "sms_aliyun_endpoint": provider.url,
            "sms_aliyun_access_key_id": KEY_ID,
            "sms_aliyun_access_key_secret": SECRET,
            "sms_aliyun_sign_name": "东城区居家养老",
        }
    )


async def test_a_device_press_reaches_the_family_through_the_servers_own_loop(
    server: RunningServer, publisher: DevicePublisher, provider: AliyunSmsStandIn
) -> None:
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)

    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

    # Nobody can be dispatched here, so the responder cascade asks the neighbour
    # too (tests/integration/test_cascade.py); the family's message is the step's.
    raised = load().templates["raised"]

    async def sms_sent() -> list[str]:
        return [s["PhoneNumbers"] for s in provider.sent if s["TemplateCode"] == raised]

    assert await wait_until(sms_sent, timeout_s=30) == ["13800138001"]
    operator = await login(server.http, db, "operator", areas=("东城区",))
    outsider = await login(server.http, db, "operator", areas=("西城区",))
    async with httpx.AsyncClient(base_url=server.http) as http:
        alerts = (await http.get("/api/v1/alerts", headers=bearer(operator))).json()
        [alert_id] = [a["id"] for a in alerts if a["device_id"] == city.device_id]
        url = f"/api/v1/alerts/{alert_id}/notifications"

        async def listed() -> list[dict[str, str]]:
            found = (await http.get(url, headers=bearer(operator))).json()
            return [n for n in found if n["status"] == "sent" and n["step"] == "raised"]

        [notice] = await wait_until(listed)
        assert (notice["contact_name"], notice["step"], notice["channel"]) == (
            "王丽",
            "raised",
            "sms",
        )
        assert (await http.get(url, headers=bearer(outsider))).status_code == 403
        missing = f"/api/v1/alerts/{uuid.uuid4()}/notifications"
        assert (await http.get(missing, headers=bearer(operator))).status_code == 404


async def test_editing_the_contacts_keeps_what_each_contact_was_sent(
    db: Database, provider: AliyunSmsStandIn
) -> None:
    """A contact kept by name keeps their row; one taken off after being sent something
    stays on the record, marked removed, and is told nothing more."""
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    first = await asyncio.to_thread(press, db, city.elder_id)
    notifier = Notifier(db, load(), {"sms": sms(provider.url)})
    await notifier.pass_once()
    [told] = notices(db, first)
    admin = Principal("admin1", Role.ADMIN)
    daughter = {"name": "王丽", "relation": "女儿", "role": "family", "phones": ["13900139001"]}
    son = {"name": "王强", "relation": "儿子", "role": "family", "phones": ["13900139002"]}

    # The daughter's new phone: the same contact, the message sent to her still hers.
    record = await asyncio.to_thread(
        change_elder, db, admin, city.elder_id, {}, [son, daughter], now=datetime.now(UTC)
    )
    assert [(c.name, c.position) for c in record.contacts] == [("王强", 0), ("王丽", 1)]
    assert next(c.id for c in record.contacts if c.name == "王丽") == told.contact_id

    # Taken off the list: her row stays (and what she was sent), marked removed.
    record = await asyncio.to_thread(
        change_elder, db, admin, city.elder_id, {}, [son], now=datetime.now(UTC)
    )
    assert [c.name for c in record.contacts] == ["王强"]
    with db.session() as session:
        removed = session.get(ElderContact, told.contact_id)
        assert removed is not None
        assert removed.removed_at is not None
        neighbour = session.exec(select(ElderContact).where(ElderContact.name == "赵阿姨")).all()
        assert neighbour == []  # never sent anything: simply deleted
    assert [n.contact_name for n in notices(db, first)] == ["王丽"]

    second = await asyncio.to_thread(press, db, city.elder_id)
    await notifier.pass_once()
    assert [n.contact_name for n in notices(db, second)] == ["王强"]
    assert provider.sent[-1]["PhoneNumbers"] == "13900139002"
