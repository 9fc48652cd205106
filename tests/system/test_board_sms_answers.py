"""The board's timeline in Chromium, in both languages, after the provider's
delivery report and a key-holder's texted yes (docs/contacts.md, "Delivery
reports and replies"): the operator reads that the question arrived and who
answered it, by SMS."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import select

from dispatch.notify import receipts
from dispatch.notify.aliyun import AliyunSms
from dispatch.notify.cascade import Cascade, start_by_operator
from dispatch.notify.notifier import Notifier
from dispatch.notify.rules import load as load_notification_rules
from dispatch.store.tables import Alert, ElderContact
from simulators.devices import DevicePublisher
from simulators.sms_provider import AliyunSmsStandIn
from tests.conftest import RunningServer
from tests.helpers import SmallCity
from tests.system.test_web_pages import (  # noqa: F401  (fixtures)
    browser,
    city,
    database_url,
    open_board,
    pytestmark,
    shoot,
)

KEY_HOLDER = "13800138002"
# What the timeline says of the report and of the reply, by the page's language.
WORDS = {True: ("sms delivered", "going · by SMS"), False: ("sms 已送达", "可以前往 · 短信回复")}


@pytest.mark.parametrize("english", [True, False], ids=["en", "zh-CN"])
async def test_the_timeline_shows_the_delivery_and_the_texted_yes(
    server: RunningServer,
    city: SmallCity,  # noqa: F811
    publisher: DevicePublisher,
    browser: Browser,  # noqa: F811
    english: bool,
) -> None:
    db = server.services.db
    with db.session() as session:
        session.add(
            ElderContact(
                elder_id=city.elder_id,
                position=0,
                name="赵阿姨",
                relation="邻居",
                role="neighbour",
                phones=[KEY_HOLDER],
                key_holder=True,
            )
        )
    board = await open_board(browser, server, english=english)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    row = board.locator(".alert")
    await expect(row).to_have_count(1, timeout=2000)
    with db.read() as session:
        alert_id = session.exec(select(Alert.id)).one()

    rules = load_notification_rules()
    assert rules.cascade is not None
    now = datetime.now(UTC)
    await asyncio.to_thread(start_by_operator, db, alert_id, rules.cascade, operator="op", now=now)
    await Cascade(db, rules.cascade).pass_once(now)  # the key-holder is asked
    with AliyunSmsStandIn({"key": "secret"}) as provider:
        sms = AliyunSms(
            endpoint=provider.url, access_key_id="key", access_key_secret="secret", sign_name="x"
        )
        await Notifier(db, rules, {"sms": sms}).pass_once()
        (asked,) = [s for s in provider.sent if s["PhoneNumbers"] == KEY_HOLDER]
    report = receipts.DeliveryReport(asked["BizId"], KEY_HOLDER, True, "DELIVERED")
    came = await asyncio.to_thread(receipts.record_reports, db, [report], datetime.now(UTC))
    assert came[receipts.Applied.APPLIED] == 1
    reply = receipts.Reply(f"+86{KEY_HOLDER}", "是")
    assert await asyncio.to_thread(receipts.record_replies, db, [reply], datetime.now(UTC)) == 1

    await row.click()
    timeline = board.locator("#detail ol.timeline li")
    delivered, by_sms = (
        ("sms delivered", "going · by SMS") if english else ("sms 已送达", "可以前往 · 短信回复")
    )
    await expect(timeline.filter(has_text=delivered)).to_have_count(1)
    await expect(timeline.filter(has_text=f"赵阿姨: {by_sms}")).to_have_count(1)
    await board.evaluate(
        "() => [...document.querySelectorAll('#detail ol.timeline li')].at(-1)?.scrollIntoView()"
    )
    await shoot(board, f"board-sms-answer-{'en' if english else 'zh-CN'}")
