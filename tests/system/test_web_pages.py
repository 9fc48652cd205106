"""Both pages driven as a person would, in headless Chromium (Debian's package).

A press through the real broker appears on the operators' board; the operator
takes it; the caregiver's phone gets the offer and works it to the end; the
board follows each step and its KPI tiles change.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Route,
    async_playwright,
    expect,
)
from sqlmodel import select

from dispatch.domain.lifecycle import RequestState
from dispatch.domain.model import GeoPoint
from dispatch.homecare import requests, visits
from dispatch.homecare.planner import plan_day
from dispatch.notify.aliyun import AliyunSms
from dispatch.notify.notifier import Notifier
from dispatch.notify.rules import load as load_notification_rules
from dispatch.registry import family
from dispatch.store.tables import (
    Alert,
    AuditRecord,
    Device,
    Elder,
    ElderContact,
    FollowUp,
    ServiceRequest,
    Visit,
)
from simulators.devices import DevicePublisher
from simulators.sms_provider import AliyunSmsStandIn
from tests.conftest import RunningServer
from tests.helpers import (
    CENTER,
    PASSWORD,
    LiveClient,
    SmallCity,
    login,
    make_user,
    seed_small_city,
    wait_until,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = os.environ.get("CAREBELL_SCREENSHOTS")  # a folder: keep pictures of the pages
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/test.sh does)"
)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # the pages do not care which database; PostgreSQL runs elsewhere


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def city(server: RunningServer) -> SmallCity:
    return await asyncio.to_thread(seed_small_city, server.services.db)


async def open_board(browser: Browser, server: RunningServer, *, english: bool = True) -> Page:
    username = await asyncio.to_thread(make_user, server.services.db, "operator", areas=("东城区",))
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    await page.goto(f"{server.http}/board/")
    await sign_in(page, username, english=english)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    return page


async def open_app(browser: Browser, server: RunningServer, city: SmallCity) -> Page:
    username = await asyncio.to_thread(
        make_user, server.services.db, "caregiver", caregiver_id=city.near_id
    )
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        permissions=["geolocation"],
        geolocation={"latitude": CENTER[0] + 0.0045, "longitude": CENTER[1]},
    )
    page = await context.new_page()
    await page.goto(f"{server.http}/app/")
    await sign_in(page, username)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    # The phone's position reaches the matcher before anyone presses.
    bus = server.services.bus
    await wait_until(lambda: bus.nearby(CENTER[0], CENTER[1], 5000, 50))
    return page


async def sign_in(page: Page, username: str, *, english: bool = True) -> None:
    await page.fill("#login [name=username]", username)
    await page.fill("#login [name=password]", PASSWORD)
    await page.click("#login [type=submit]")
    await expect(page.locator("#main")).to_be_visible()
    # New accounts read Simplified Chinese; these tests read English unless told.
    if english:
        await page.click("header .lang")
        await expect(page.locator("html")).to_have_attribute("lang", "en")


async def kpi(page: Page, name: str) -> str:
    return (await page.locator(f'[data-kpi="{name}"] b').text_content()) or ""


async def shoot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        await page.screenshot(path=f"{SCREENSHOTS}/{name}.png")  # playwright makes the folder


async def test_a_press_travels_from_the_board_to_the_phone_and_back(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher, browser: Browser
) -> None:
    board = await open_board(browser, server)
    app = await open_app(browser, server, city)
    await expect(board.locator('[data-kpi="open_alerts"] b')).to_have_text("0")

    pressed = time.monotonic()
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    row = board.locator(".alert")
    await expect(row).to_have_count(1, timeout=2000)
    print(f"press on the board after {time.monotonic() - pressed:.2f} s")
    await expect(row.locator(".arrive")).to_have_text(
        re.compile(r"^arri\w+ (in|overdue) (\d+ min( \d+ s)?|\d+ s)$")
    )
    await expect(board.locator('[data-kpi="open_alerts"] b')).to_have_text("1")

    # The operator takes it: the detail shows the elder's card and the timeline.
    await row.click()
    await expect(board.locator("#detail h2")).to_have_text("Help button pressed")
    await expect(board.locator("#detail")).to_contain_text("王秀英")
    await board.click('#detail [data-action="acknowledge"]')
    await expect(row).to_contain_text("taken by")

    # The phone rings with the offer; the caregiver works it to the end.
    offer = app.locator("#offer")
    await expect(offer).to_be_visible()
    await expect(offer).to_contain_text("王秀英")
    await shoot(app, "app-offer-en")
    await app.click('[data-action="accept"]')
    await expect(row.locator(".badge.state")).to_have_text("Accepted")
    await app.click('[data-action="en_route"]')
    await expect(row.locator(".badge.state")).to_have_text("On the way")
    await app.click('[data-action="arrive"]')
    await expect(row.locator(".badge.state")).to_have_text("On scene")
    # One line per step, though the caregiver's answer moved the order and the alert.
    timeline = board.locator("#detail ol.timeline li")
    await expect(timeline.filter(has_text="Accepted")).to_have_count(1)
    await expect(timeline.filter(has_text="On the way")).to_have_count(1)
    # Spans of time read as such, not as clock times.
    await expect(board.locator("#detail")).to_contain_text(re.compile(r"ETA \d+ min, "))
    await shoot(board, "board-en")
    await shoot(app, "app-order-en")
    await app.fill("#order textarea", "Helped her up; no injury")
    # Completing closes the alert: the app asks why first, as the board does.
    await app.click('[data-action="complete"]')
    await expect(app.locator("#message")).to_have_text("Choose a closure code first.")
    await app.locator('#order [data-field="closure-code"]').select_option("fall_no_injury")
    await app.click('[data-action="complete"]')
    await expect(app.locator("#message")).to_have_text("Call completed. Thank you.")
    with server.services.db.session() as session:
        closed = session.exec(select(Alert)).one()
    assert (closed.closure_code, closed.closure_note) == (
        "fall_no_injury",
        "Helped her up; no injury",
    )

    # The board lets it go and the day's figures move.
    await expect(row).to_have_count(0)
    await expect(board.locator('[data-kpi="open_alerts"] b')).to_have_text("0")
    # A button that talks is answered by a call (tests/test_voice_calls.py); none was made.
    await expect(board.locator('[data-kpi="answered_within_target"] b')).to_have_text("–")
    await expect(board.locator('[data-kpi="reached_within_deadline"] b')).to_have_text("100%")


async def test_the_operator_closes_an_alert_with_a_closure_code_in_either_language(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher, browser: Browser
) -> None:
    board = await open_board(browser, server, english=False)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    row = board.locator(".alert")
    await expect(row).to_have_count(1, timeout=2000)
    await row.click()
    codes = board.locator('#detail [data-field="closure-code"]')
    await expect(codes.locator("option", has_text="误按")).to_have_count(1)
    await board.click("header .lang")
    await expect(board.locator("html")).to_have_attribute("lang", "en")
    await row.click()
    await expect(codes.locator("option", has_text="Accidental press")).to_have_count(1)

    # Resolving asks why first; nothing is sent without a code.
    await board.click('#detail [data-action="resolve"]')
    await expect(board.locator("#detail")).to_contain_text("Choose a closure code first.")
    await expect(row).to_have_count(1)
    await codes.select_option("accidental_press")
    await board.fill('#detail [data-field="closure-note"]', "pressed while dusting")
    await shoot(board, "board-closure-en")
    await board.click('#detail [data-action="resolve"]')
    await expect(row).to_have_count(0)
    with server.services.db.session() as session:
        closed = session.exec(select(Alert)).one()
    assert (closed.state, closed.closure_code) == ("resolved", "accidental_press")
    assert closed.closure_note == "pressed while dusting"


async def test_the_operator_hands_an_alert_to_120_and_reads_the_sheet(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher, browser: Browser
) -> None:
    with server.services.db.session() as session:
        elder = session.get(Elder, city.elder_id)
        assert elder is not None
        elder.building, elder.room, elder.allergies = "3号楼", "301", "青霉素"
        session.add(elder)
    board = await open_board(browser, server)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    row = board.locator(".alert")
    await expect(row).to_have_count(1, timeout=2000)
    await row.click()
    await board.click('#detail [data-action="handover"]')
    panel = board.locator('#detail [data-section="handover"]')
    await expect(panel).to_contain_text("Hand-over sheet for 120")
    await expect(panel).to_contain_text("青霉素")
    await expect(panel).to_contain_text("3号楼")
    await shoot(board, "board-handover-en")
    # Not closed while 120's answer is missing.
    await board.locator('#detail [data-field="closure-code"]').select_option("real_emergency")
    await board.click('#detail [data-action="resolve"]')
    await expect(board.locator("#detail")).to_contain_text("record the outcome")
    await board.click('#detail [data-action="handover-outcome"]')
    await expect(panel).to_contain_text("Ambulance (or police, fire) sent")
    await board.click('#detail [data-action="handover-arrived"]')
    await expect(panel).to_contain_text("Arrived at")
    timeline = board.locator("#detail ol.timeline li")
    await expect(timeline.filter(has_text="handed over · to 120")).to_have_count(1)
    await expect(timeline.filter(has_text="ambulance arrived")).to_have_count(1)
    # The code chosen before the outcome survived the redraws since.
    await expect(board.locator('#detail [data-field="closure-code"]')).to_have_value(
        "real_emergency"
    )
    await board.click('#detail [data-action="resolve"]')
    await expect(row).to_have_count(0)


async def test_the_timeline_shows_the_family_told_by_sms(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher, browser: Browser
) -> None:
    db = server.services.db
    with db.session() as session:
        session.add(
            ElderContact(
                elder_id=city.elder_id,
                position=0,
                name="王丽",
                role="family",
                phones=["13800138001"],
            )
        )
    board = await open_board(browser, server)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    row = board.locator(".alert")
    await expect(row).to_have_count(1, timeout=2000)
    with AliyunSmsStandIn({"key": "secret"}) as provider:
        sms = AliyunSms(
            endpoint=provider.url, access_key_id="key", access_key_secret="secret", sign_name="x"
        )
        await Notifier(db, load_notification_rules(), {"sms": sms}).pass_once()
        assert len(provider.sent) == 1
    await row.click()
    timeline = board.locator("#detail ol.timeline li")
    told = timeline.filter(has_text="王丽 · New · sms sent")
    await expect(told).to_have_count(1)
    # The panel is drawn anew on each of the alert's live steps (the dispatcher goes
    # on meanwhile), so the line is found and scrolled to in one script, not through
    # a handle that such a redraw can detach between the two.
    await board.evaluate(
        """() => [...document.querySelectorAll('#detail ol.timeline li')]
            .find((li) => li.textContent.includes('sms sent'))?.scrollIntoView()"""
    )
    await shoot(board, "board-notified-en")


async def test_what_the_operator_is_typing_survives_a_live_step_of_the_alert(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher, browser: Browser
) -> None:
    """The card is drawn anew when its alert moves on; a half-typed note, a chosen
    call-back outcome, the cursor and what the page last said stay as they were."""
    board = await open_board(browser, server)
    app = await open_app(browser, server, city)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    row = board.locator(".alert")
    await row.click()
    await expect(app.locator("#offer")).to_be_visible()
    await board.click('#detail [data-action="resolve"]')  # no closure code chosen yet
    await expect(board.locator("#detail .message")).to_have_text("Choose a closure code first.")
    await board.select_option('#detail [data-field="callback-outcome"]', "no_answer")
    note = board.locator('#detail [data-field="note"]')
    await note.fill("门锁着，邻居王阿姨有钥匙")
    await note.evaluate("(el) => { el.dataset.drawn = 'before'; el.setSelectionRange(2, 2); }")

    await app.click('[data-action="accept"]')
    redrawn = board.locator('#detail [data-field="note"]:not([data-drawn])')
    await expect(redrawn).to_have_count(1)  # the card was drawn anew by the live step
    await expect(board.locator("#detail .badge").first).to_have_text("Accepted")
    await expect(redrawn).to_have_value("门锁着，邻居王阿姨有钥匙")
    await expect(redrawn).to_be_focused()
    assert await redrawn.evaluate("(el) => [el.selectionStart, el.selectionEnd]") == [2, 2]
    await expect(board.locator('#detail [data-field="callback-outcome"]')).to_have_value(
        "no_answer"
    )
    await expect(board.locator("#detail .message")).to_have_text("Choose a closure code first.")

    # Once sent, the note is not carried over again.
    await board.click('#detail .row:has([data-field="note"]) button')
    await expect(board.locator("#detail ol.timeline")).to_contain_text("门锁着")
    await expect(board.locator('#detail [data-field="note"]')).to_have_value("")


async def test_a_list_the_board_asked_for_before_a_live_event_does_not_undo_it(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher, browser: Browser
) -> None:
    """Acknowledging re-reads the list of alerts; on a busy machine that answer can
    come back after the caregiver's acceptance reached the board live. The board
    keeps the newer state (it used to show "Offered" again, and nothing came to
    put it right until the caregiver's next step)."""
    board = await open_board(browser, server)
    app = await open_app(browser, server, city)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    row = board.locator(".alert")
    await row.click()
    await expect(app.locator("#offer")).to_be_visible()

    held: asyncio.Future[Route] = asyncio.get_running_loop().create_future()

    async def hold_the_first_list(route: Route) -> None:
        if held.done():
            await route.continue_()
        else:
            held.set_result(route)

    await board.route("**/api/v1/alerts?*", hold_the_first_list)
    await board.click('#detail [data-action="acknowledge"]')
    route = await held
    stale = await route.fetch()  # read now, while the alert is still offered
    await app.click('[data-action="accept"]')
    await expect(row.locator(".badge.state")).to_have_text("Accepted")

    async with board.expect_event("requestfinished"):
        await route.fulfill(response=stale)
    await board.evaluate(
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )
    assert await row.locator(".badge.state").inner_text() == "Accepted"


async def test_an_action_taken_offline_is_sent_once_when_the_phone_is_back(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher, browser: Browser
) -> None:
    app = await open_app(browser, server, city)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    await expect(app.locator("#offer")).to_be_visible()

    context: BrowserContext = app.context
    await context.set_offline(True)
    await expect(app.locator("#live-status")).not_to_have_attribute("data-state", "connected")
    await app.click('[data-action="accept"]')
    await expect(app.locator("#queued")).to_be_visible()  # kept on the phone

    await context.set_offline(False)
    await expect(app.locator("#queued")).to_be_hidden(timeout=15_000)
    await expect(app.locator("#order")).to_be_visible()

    def accepted() -> int:
        with server.services.db.session() as session:
            rows = session.exec(
                select(AuditRecord).where(
                    AuditRecord.entity == "order", AuditRecord.to_state == "accepted"
                )
            ).all()
            return len(rows)

    assert await asyncio.to_thread(accepted) == 1


async def test_the_app_opens_without_a_connection_once_it_has_been_opened(
    server: RunningServer, city: SmallCity, browser: Browser
) -> None:
    app = await open_app(browser, server, city)
    # The shell is cached by the app's service worker once it controls the page.
    await app.evaluate("navigator.serviceWorker.ready.then(() => true)")
    await app.reload()
    await app.wait_for_function("navigator.serviceWorker.controller !== null")

    await app.context.set_offline(True)
    await app.reload()
    await expect(app.locator("#main")).to_be_visible()  # the session and shell, from the phone
    await expect(app.locator("#live-status")).not_to_have_attribute("data-state", "connected")


async def test_the_language_switch_sticks_for_the_user(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher, browser: Browser
) -> None:
    board = await open_board(browser, server, english=False)
    # Simplified Chinese first: the language of the care bureaus' operators.
    await expect(board.locator("#queue-title")).to_have_text("未结警报（按紧急程度）")
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    await expect(board.locator(".alert .what b")).to_have_text("一键呼叫")
    await board.locator(".alert").click()
    await expect(board.locator("#detail h3").first).to_have_text("老人")
    await shoot(board, "board-zh")
    await board.click("header .lang")
    await expect(board.locator("#queue-title")).to_have_text("Open alerts, most urgent first")
    await expect(board.locator(".alert .what b")).to_have_text("Help button pressed")
    # The choice is the user's: it holds after a reload.
    await board.reload()
    await expect(board.locator("#queue-title")).to_have_text("Open alerts, most urgent first")


# How many different pictures the page's own font draws for these characters: with
# no font that has them, every one is the same empty box.
DISTINCT_GLYPHS = """(text) => {
  const font = "32px " + getComputedStyle(document.body).fontFamily;
  const draw = (ch) => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 48;
    const g = canvas.getContext("2d");
    g.font = font;
    g.fillText(ch, 4, 38);
    return g.getImageData(0, 0, 48, 48).data.join(",");
  };
  return new Set(Array.from(text, draw)).size;
}"""


async def test_the_chinese_board_is_drawn_in_a_font_that_has_its_characters(
    server: RunningServer, browser: Browser
) -> None:
    """New accounts read zh-CN: without a CJK font (Debian: fonts-noto-cjk, which
    scripts/test.sh installs) the board is boxes. A box looks the same for every
    character; real glyphs do not."""
    board = await open_board(browser, server, english=False)
    title = (await board.locator("#queue-title").text_content()) or ""
    characters = "".join(dict.fromkeys(c for c in title if "\u4e00" <= c <= "\u9fff"))
    assert len(characters) >= 4, title
    assert await board.evaluate(DISTINCT_GLYPHS, characters) == len(characters), (
        "the zh-CN board draws its characters as boxes: no CJK font (apt-get install "
        "fonts-noto-cjk)"
    )


async def open_family_page(
    browser: Browser, server: RunningServer, city: SmallCity, *, english: bool
) -> Page:
    """A daughter's phone, 300 m from her mother, on the family page."""
    db = server.services.db
    username = await asyncio.to_thread(make_user, db, "family")
    await asyncio.to_thread(
        family.link, db, city.elder_id, username, "女儿", by="admin", now=datetime.now(UTC)
    )
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        permissions=["geolocation"],
        geolocation={"latitude": CENTER[0] + 0.0027, "longitude": CENTER[1]},
    )
    page = await context.new_page()
    await page.goto(f"{server.http}/family/")
    await sign_in(page, username, english=english)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    await expect(page.locator("#elders")).to_have_text("王秀英 (女儿)")
    return page


async def caregiver_on_shift(server: RunningServer, city: SmallCity) -> LiveClient:
    token = await login(server.http, server.services.db, "caregiver", caregiver_id=city.near_id)
    app = await LiveClient.connect(f"{server.ws}/ws/v1/caregivers/{city.near_id}", token)
    await app.send(type="position", lat=CENTER[0] + 0.0045, lon=CENTER[1])
    bus = server.services.bus
    await wait_until(lambda: bus.nearby(CENTER[0], CENTER[1], 5000, 50))
    return app


@pytest.mark.parametrize("english", [True, False], ids=["en", "zh-CN"])
async def test_the_family_follows_a_press_live_and_says_they_are_going(
    server: RunningServer,
    city: SmallCity,
    publisher: DevicePublisher,
    browser: Browser,
    english: bool,
) -> None:
    words = {
        True: (
            "Pressed for help",
            "李桂兰 on the way, about",
            "王秀英 · Help button pressed",
            "I am going",
            "李桂兰 arrived",
            "Resolved: Fall without injury",
            "nearer than the caregiver",
        ),
        False: (
            "按下呼叫求助",
            "李桂兰正在赶来，约",
            "王秀英 · 一键呼叫",
            "我这就过去",
            "李桂兰已到达",
            "已处理：跌倒未受伤",
            "比护理员更近",
        ),
    }[english]
    pressed, on_the_way, title, going, arrived, resolved, nearer = words
    phone = await open_family_page(browser, server, city, english=english)
    board = await open_board(browser, server, english=english)
    near = await caregiver_on_shift(server, city)
    await expect(phone.locator("#alerts-none")).to_be_visible()

    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    card = phone.locator(".card")
    await expect(card).to_have_count(1, timeout=5000)
    await expect(card.locator("h3")).to_have_text(title)
    await expect(card.locator(".story li").first).to_contain_text(pressed)

    offer = await near.next("order.offered")
    order_id = offer["order"]["id"]
    for action in ("accept", "en_route"):
        await near.send(type="action", action=action, order_id=order_id, ref=action)
        await near.next("reply", ref=action)
    await expect(card.locator('.story li[data-kind="en_route"]')).to_contain_text(
        re.compile(re.escape(on_the_way) + r" ?\d+")
    )

    await card.locator('[data-answer="going"]').click()
    answer = card.locator('.story li[data-kind="family_answer"]')
    await expect(answer).to_contain_text(going)
    await shoot(phone, f"family-{'en' if english else 'zh-CN'}")

    # The operator reads it on the timeline, with the distances.
    row = board.locator(".alert")
    await row.click()
    told = board.locator("#detail ol.timeline li").filter(has_text=going)
    await expect(told).to_have_count(1)
    await expect(told).to_contain_text(nearer)

    for action in ("arrive", "complete"):
        await near.send(
            type="action", action=action, order_id=order_id, ref=action, code="fall_no_injury"
        )
        await near.next("reply", ref=action)
    await expect(card.locator('.story li[data-kind="on_scene"]')).to_contain_text(arrived)
    await expect(card.locator('.story li[data-kind="resolved"]')).to_contain_text(resolved)
    await expect(card.locator(".answers")).to_have_count(0)
    await near.close()


async def test_a_family_member_links_their_account_with_an_invitation_code(
    server: RunningServer, city: SmallCity, browser: Browser
) -> None:
    db = server.services.db
    username = await asyncio.to_thread(make_user, db, "family")
    code, _ = await asyncio.to_thread(
        family.invite, db, city.elder_id, "儿子", by="admin", now=datetime.now(UTC)
    )
    page = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
    await page.goto(f"{server.http}/family/")
    await sign_in(page, username)
    await expect(page.locator("#elders-none")).to_be_visible()
    await page.fill("#link [name=code]", "2222-2222")
    await page.click("#link [type=submit]")
    await expect(page.locator("#message")).to_have_text(
        "That code is not valid (wrong, used or expired)."
    )
    await page.fill("#link [name=code]", code.lower())
    await page.click("#link [type=submit]")
    await expect(page.locator("#message")).to_have_text("Linked to 王秀英.")
    await expect(page.locator("#elders")).to_have_text("王秀英 (儿子)")
    await expect(page.locator("#alerts-none")).to_be_visible()


async def test_a_caregiver_account_is_refused_by_the_board(
    server: RunningServer, city: SmallCity, browser: Browser
) -> None:
    username = await asyncio.to_thread(
        make_user, server.services.db, "caregiver", caregiver_id=city.near_id
    )
    # Before sign-in the page speaks the browser's language.
    page = await (await browser.new_context(locale="zh-CN")).new_page()
    await page.goto(f"{server.http}/board/")
    await page.fill("#login [name=username]", username)
    await page.fill("#login [name=password]", PASSWORD)
    await page.click("#login [type=submit]")
    await expect(page.locator("#login-error")).to_have_text("此账号不能使用本页面")
    await expect(page.locator("#main")).to_be_hidden()


async def test_the_map_shows_devices_that_went_offline(
    server: RunningServer, city: SmallCity, browser: Browser
) -> None:
    def drop() -> None:
        with server.services.db.session() as session:
            device = session.get(Device, city.wearable_id)
            assert device is not None
            device.online = False
            session.add(device)

    await asyncio.to_thread(drop)
    board = await open_board(browser, server)
    await expect(board.locator(".offline-marker")).to_have_count(1)
    await expect(board.locator('[data-kpi="devices_offline"] b')).to_have_text("1")


def _approved_visit_today(server: RunningServer, city: SmallCity) -> None:
    services = server.services
    new = requests.NewRequest(
        elder_id=city.elder_id,
        item="meal_assist",
        source="elder",
        requested_by="王秀英",
        first_day=services.homecare.today(),
        window_start=dtime(0, 0),
        window_end=dtime(23, 59),
    )
    request = requests.create(services.db, services.menu, new, at=datetime.now(UTC))
    requests.decide(
        services.db,
        request.id,
        RequestState.APPROVED,
        by="assessor",
        reason="",
        at=datetime.now(UTC),
    )


async def test_the_app_gets_its_new_route_and_works_a_visit(
    server: RunningServer, city: SmallCity, browser: Browser
) -> None:
    app = await open_app(browser, server, city)
    await expect(app.locator("#visits-none")).to_be_visible()
    await asyncio.to_thread(_approved_visit_today, server, city)
    homecare = server.services.homecare
    await homecare.plan(homecare.today(), time_limit_s=1)

    visit = app.locator("#visits li[data-state=planned]")  # pushed: no reload
    await expect(visit).to_contain_text("Assisted eating")
    await expect(visit).to_contain_text("王秀英")
    await app.click('[data-visit-action="start"]')
    await expect(app.locator("#visits li[data-state=in_progress]")).to_be_visible()
    await app.fill("#visits textarea", "吃了半碗粥")
    await shoot(app, "app-visit")
    await app.click('[data-visit-action="finish"]')
    await expect(app.locator("#visits li[data-state=done]")).to_contain_text("Done")

    def stored() -> Visit:
        with server.services.db.session() as session:
            return session.exec(select(Visit)).one()

    done = await asyncio.to_thread(stored)
    assert done.notes == "吃了半碗粥"
    assert done.start_distance_m is not None
    assert done.start_distance_m < 600


def _a_visit_done_and_a_request_waiting(server: RunningServer, city: SmallCity) -> None:
    _approved_visit_today(server, city)
    services, at = server.services, datetime.now(UTC)
    plan_day(
        services.db,
        services.menu,
        services.travel,
        services.homecare.today(),
        services.homecare.tz,
        time_limit_s=1,
    )
    with services.db.session() as session:
        visit = session.exec(select(Visit)).one()
    assert visit.caregiver_id is not None
    where = GeoPoint(CENTER[0], CENTER[1])
    visits.start(services.db, services.menu, visit.caregiver_id, visit.id, where, at=at)
    visits.finish(services.db, services.menu, visit.caregiver_id, visit.id, "", at=at)
    new = requests.NewRequest(
        elder_id=city.elder_id,
        item="cleaning",
        source="family",
        requested_by="女儿",
        first_day=services.homecare.today(),
        window_start=dtime(9, 0),
        window_end=dtime(11, 0),
    )
    requests.create(services.db, services.menu, new, at=at)


async def test_the_services_page_records_a_follow_up_and_approves_a_request(
    server: RunningServer, city: SmallCity, browser: Browser
) -> None:
    await asyncio.to_thread(_a_visit_done_and_a_request_waiting, server, city)
    username = await asyncio.to_thread(make_user, server.services.db, "supervisor")
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await page.goto(f"{server.http}/services/")
    await sign_in(page, username)
    await expect(page.locator("#routes tr")).to_have_count(1)
    await expect(page.locator("#coverage")).to_contain_text("100% visited")
    call = page.locator("#followups li")
    await expect(call).to_contain_text("first visit")
    await call.locator("select").select_option("4")
    await call.locator("[name=comment]").fill("很好")
    await shoot(page, "services-en")
    await call.locator("button").click()
    await expect(page.locator("#followups-none")).to_be_visible()
    await page.locator("#requests li button", has_text="Approve").click()
    await expect(page.locator("#requests-none")).to_be_visible()

    def stored() -> tuple[FollowUp, ServiceRequest]:
        with server.services.db.session() as session:
            return session.exec(select(FollowUp)).one(), session.exec(
                select(ServiceRequest).where(ServiceRequest.item == "cleaning")
            ).one()

    follow_up, request = await asyncio.to_thread(stored)
    assert (follow_up.satisfaction, follow_up.comment) == (4, "很好")
    assert request.state is RequestState.APPROVED


async def test_an_operator_records_a_familys_request_on_the_services_page(
    server: RunningServer, city: SmallCity, browser: Browser
) -> None:
    """A daughter calls: the operator finds her mother, picks the service and the
    days, and the request waits for a decision."""
    # An operator finds only the elders of their own areas (docs/privacy.md).
    username = await asyncio.to_thread(make_user, server.services.db, "operator", areas=("东城区",))
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await page.goto(f"{server.http}/services/")
    await sign_in(page, username)
    form = page.locator("#new-request")
    await form.locator("[name=elder]").fill("王秀")
    option = page.locator("#elders option")
    await expect(option).to_have_count(1)
    await form.locator("[name=elder]").fill(await option.get_attribute("value") or "")
    await form.locator("[name=item]").select_option("cleaning")
    await form.locator("[name=source]").select_option("family")
    await form.locator("[name=requested_by]").fill("女儿 李梅")
    for day in ("1", "3", "5"):
        await form.locator(f"[name=weekday][value='{day}']").check()
    await form.locator("[name=window_start]").fill("11:00")
    await form.locator("[name=window_end]").fill("12:00")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#message")).to_contain_text("Request recorded")
    await expect(page.locator("#requests li")).to_contain_text("cleaning · family · 女儿 李梅")

    def stored() -> ServiceRequest:
        with server.services.db.session() as session:
            return session.exec(select(ServiceRequest)).one()

    request = await asyncio.to_thread(stored)
    assert (request.elder_id, request.item, request.source) == (city.elder_id, "cleaning", "family")
    assert sorted(request.weekdays) == [1, 3, 5]
    assert (request.window_start, request.window_end) == (dtime(11, 0), dtime(12, 0))
    assert request.state is RequestState.REQUESTED


async def test_a_request_without_an_elder_from_the_list_is_not_sent(
    server: RunningServer, city: SmallCity, browser: Browser
) -> None:
    username = await asyncio.to_thread(make_user, server.services.db, "operator")
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{server.http}/services/")
    await sign_in(page, username)
    await page.locator("#new-request [name=elder]").fill("nobody at all")
    await page.locator("#new-request button[type=submit]").click()
    await expect(page.locator("#message")).to_contain_text("Choose the elder from the list")

    def count() -> int:
        with server.services.db.session() as session:
            return len(session.exec(select(ServiceRequest)).all())

    assert await asyncio.to_thread(count) == 0
