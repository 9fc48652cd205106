"""What the SMS provider pushes back, on real services: the server's own loops, the
stand-in pushing Aliyun's documented delivery reports (SmsReport) and up-link
messages (SmsUp) to the server's receiving addresses, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlmodel import col, select

from config.settings import Settings
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, Notification
from simulators.contact_answers import AnswerHabits, ContactAnswers
from simulators.devices import DevicePublisher
from simulators.sms_provider import AliyunSmsStandIn
from tests.conftest import RunningServer
from tests.helpers import seed_small_city, wait_until
from tests.integration.test_cascade import (
    CASCADE_TEMPLATE,
    add_contacts,
    asked_to_go,
    cascade_steps,
)
from tests.integration.test_notifications import KEY_ID, SECRET

TOKEN = "receipt-secret-7f3a"


@pytest.fixture
def provider() -> Iterator[AliyunSmsStandIn]:
    # Pushes are not retried here: a refused one must show as a failed test.
    switched_off = frozenset({"13800138003"})
    with AliyunSmsStandIn({KEY_ID: SECRET}, undeliverable=switched_off, retry_s=()) as stand_in:
        yield stand_in


@pytest.fixture
def settings(settings: Settings, provider: AliyunSmsStandIn) -> Settings:
    return settings.model_copy(
        update={
            "sms_provider": "aliyun",
            "sms_aliyun_endpoint": provider.url,
            "sms_aliyun_access_key_id": KEY_ID,
            "sms_aliyun_access_key_secret": SECRET,
            "sms_aliyun_sign_name": "东城区居家养老",
            "sms_receipt_token": TOKEN,
        }
    )


def addresses(server: RunningServer, provider: AliyunSmsStandIn) -> None:
    """Configure the provider's push addresses, as the bureau does in its console."""
    provider.report_url = f"{server.http}/api/v1/sms/aliyun/report?token={TOKEN}"
    provider.up_url = f"{server.http}/api/v1/sms/aliyun/up?token={TOKEN}"


def the_alert(db: Database, device_id: str) -> uuid.UUID | None:
    with db.read() as session:
        return session.exec(select(Alert.id).where(Alert.device_id == device_id)).first()


def notices(db: Database, alert_id: uuid.UUID) -> list[Notification]:
    with db.read() as session:
        return list(
            session.exec(
                select(Notification)
                .where(Notification.alert_id == alert_id)
                .order_by(col(Notification.created_at))
            ).all()
        )


def steps(db: Database, alert_id: uuid.UUID, action: str) -> list[tuple[str, dict[str, object]]]:
    with db.read() as session:
        rows = session.exec(
            select(AuditRecord)
            .where(AuditRecord.alert_id == alert_id, AuditRecord.action == action)
            .order_by(col(AuditRecord.id))
        ).all()
        return [(r.actor, r.detail) for r in rows]


async def test_delivery_reports_mark_notifications_delivered_or_failed_once(
    server: RunningServer, publisher: DevicePublisher, provider: AliyunSmsStandIn
) -> None:
    addresses(server, provider)
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

    async def sent() -> list[Notification]:
        alert_id = await asyncio.to_thread(the_alert, db, city.device_id)
        found = await asyncio.to_thread(notices, db, alert_id) if alert_id else []
        return [n for n in found if n.status == "sent" and n.step == "raised"]

    (daughter,) = await wait_until(sent, timeout_s=30)
    accepted = next(s for s in provider.sent if s["BizId"] == daughter.provider_id)
    assert await asyncio.to_thread(provider.report, accepted)
    # Pushed again (the provider retries when unsure): applied once, and answered 200.
    assert await asyncio.to_thread(provider.report, accepted)
    (after,) = [
        n for n in await asyncio.to_thread(notices, db, daughter.alert_id) if n.id == daughter.id
    ]
    assert after.status == "delivered"
    notes = [d for _, d in await asyncio.to_thread(steps, db, daughter.alert_id, "notified")]
    assert [(d["contact"], d["status"]) for d in notes if d["step"] == "raised"] == [
        ("王丽", "sent"),
        ("王丽", "delivered"),
    ]
    # A report that says the phone never got it: failed, with the carrier's code.
    assert await asyncio.to_thread(provider.report, accepted, delivered=False) is True
    assert [
        n.status
        for n in await asyncio.to_thread(notices, db, daughter.alert_id)
        if n.id == daughter.id
    ] == ["delivered"]  # a delivered one stays delivered

    url = f"{server.http}/api/v1/sms/aliyun/report"
    item = {"phone_number": "13800138001", "success": True, "biz_id": daughter.provider_id}
    async with httpx.AsyncClient() as http:
        assert (await http.post(url, params={"token": "guess"}, json=[item])).status_code == 403
        assert (await http.post(url, json=[item])).status_code == 403
        bad = await http.post(url, params={"token": TOKEN}, json=[{"phone_number": "1"}])
        assert bad.status_code == 422
        unknown = await http.post(url, params={"token": TOKEN}, json=[{**item, "biz_id": "999^0"}])
        assert unknown.json() == {"code": 0, "msg": "接收成功", "applied": 0}


async def test_texted_replies_answer_the_cascade_and_undelivered_asks_move_it_on(
    server: RunningServer, publisher: DevicePublisher, provider: AliyunSmsStandIn
) -> None:
    """The key-holder texts "2" (no), the next neighbour's phone is switched off
    (the report says so: the cascade does not wait out the timeout), the daughter
    texts something else first, then "是"."""
    addresses(server, provider)
    provider.report_delay_s = 0.5  # the provider reports each message by itself
    provider.retry_s = (1.0, 2.0)  # and pushes again a report that came too early
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)  # nobody can reach the elder
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

    def asked(*phones: str):  # type: ignore[no-untyped-def]
        async def check() -> bool:
            return asked_to_go(provider) == list(phones)

        return check

    await wait_until(asked("13800138002"), timeout_s=30)
    alert_id = await asyncio.to_thread(the_alert, db, city.device_id)
    assert alert_id is not None

    async def delivered() -> bool:
        found = await asyncio.to_thread(notices, db, alert_id)
        return any(n.step == "cascade" and n.status == "delivered" for n in found)

    await wait_until(delivered, timeout_s=15)
    assert await asyncio.to_thread(provider.reply, "+86 138 0013 8002", "2")
    # 李叔's phone takes nothing: the failed report asks the daughter at once.
    await wait_until(asked("13800138002", "13800138003", "13800138001"), timeout_s=30)
    assert await asyncio.to_thread(provider.reply, "13800138001", "谁在家？")
    assert await asyncio.to_thread(provider.reply, "13800138001", "是")

    async def answered() -> list[tuple[str, str]]:
        found = await asyncio.to_thread(notices, db, alert_id)
        return [(n.contact_name, n.status) for n in found if n.step == "cascade"]

    async def acknowledged() -> bool:
        return ("王丽", "acknowledged") in await answered()

    await wait_until(acknowledged, timeout_s=15)
    assert await answered() == [
        ("赵阿姨", "declined"),
        ("李叔", "failed"),
        ("王丽", "acknowledged"),
    ]
    said = await asyncio.to_thread(steps, db, alert_id, "cascade_answered")
    assert said == [
        ("phone:13800138002", {"contact": "赵阿姨", "answer": "no", "via": "sms"}),
        ("phone:13800138001", {"contact": "王丽", "answer": "yes", "via": "sms"}),
    ]
    notes = await asyncio.to_thread(steps, db, alert_id, "note")
    assert ("phone:13800138001", {"contact": "王丽", "text": "谁在家？", "via": "sms"}) in notes
    # A reply from a phone asked nothing changes nothing.
    assert await asyncio.to_thread(provider.reply, "13900000000", "1")
    await asyncio.sleep(3)  # the loops' passes: nobody else is asked, nothing more recorded
    assert len(asked_to_go(provider)) == 3
    actions = [a for a, _ in await asyncio.to_thread(cascade_steps, db, alert_id)]
    assert actions[-1] == "cascade_answered"


async def test_the_simulated_key_holder_texts_back_and_the_cascade_ends(
    server: RunningServer, publisher: DevicePublisher, provider: AliyunSmsStandIn
) -> None:
    """The demo's contacts (simulators/contact_answers.py) answer through the
    provider's up-link push like a person would: this one always, and yes."""
    addresses(server, provider)
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)  # nobody can reach the elder
    await asyncio.to_thread(add_contacts, db, city.elder_id)
    habits = AnswerHabits(answer_share=1.0, yes_share=1.0, delay_s=(0.2, 0.5))
    contacts = ContactAnswers(provider, CASCADE_TEMPLATE, habits, random.Random(3), every_s=0.2)
    answering = asyncio.create_task(contacts.run())
    try:
        await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

        async def acknowledged() -> list[tuple[str, str]]:
            alert_id = await asyncio.to_thread(the_alert, db, city.device_id)
            found = await asyncio.to_thread(notices, db, alert_id) if alert_id else []
            return [
                (n.contact_name, n.status)
                for n in found
                if n.step == "cascade" and n.status == "acknowledged"
            ]

        assert await wait_until(acknowledged, timeout_s=40) == [("赵阿姨", "acknowledged")]
        await asyncio.sleep(3)  # the loops' passes: nobody else is asked
        assert asked_to_go(provider) == ["13800138002"]
    finally:
        answering.cancel()
