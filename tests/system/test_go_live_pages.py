"""Going live through the pages (#17, "done when"): an empty `carebell serve` (no
demo) taken to a working district by the command line (the first administrator)
and the admin pages only (areas, a provider, caregivers with shifts and leave,
their accounts, elders imported from an XLSX file with one bad row reported, an
assessment, a help button given to an elder); then a press over MQTT on a real
private broker reaches the right caregiver's phone."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import Workbook
from playwright.async_api import Browser, Page, async_playwright, expect

from simulators import local_services
from simulators.devices import DevicePublisher
from tests.helpers import CENTER, session_cookie
from tests.system.test_two_processes import ServerProcess
from tests.system.test_web_pages import CHROMIUM, shoot

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/test.sh does)"
)
TZ = "Asia/Shanghai"  # the settings' default: shifts are in the city's time
NEW_PASSWORD = "Brass-otter-lantern-71"


class LiveServer(ServerProcess):
    """`carebell serve` in a process of its own, and the environment it runs in (the
    command line is run in the same)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(env, log)
        self.env = env


@pytest.fixture
def empty_server(
    private_mosquitto: local_services.LocalServer,
    redis_server: local_services.LocalServer,
    tmp_path: Path,
) -> Iterator[LiveServer]:
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "CAREBELL_DATABASE_URL": f"sqlite:///{tmp_path}/bureau.db",
        "CAREBELL_MQTT_URL": private_mosquitto.url,
        "CAREBELL_REDIS_URL": redis_server.url,
        "CAREBELL_REDIS_PREFIX": f"live-{tag}",
        "CAREBELL_MQTT_SHARE_GROUP": f"g{tag}",
        "CAREBELL_DISPATCH_TICK_S": "0.2",
        "CAREBELL_HTTP_PORT": str(local_services.free_port()),
        "CAREBELL_TIMEZONE": TZ,
    }
    server = LiveServer(env, tmp_path / "serve.log")
    try:
        server.wait_ready(60)
        yield server
    finally:
        server.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


def cli(server: LiveServer, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dispatch", *args], capture_output=True, text=True, env=server.env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def first_log_in(page: Page, url: str, username: str, once: str, new: str) -> None:
    """A new account signs in with its one-time password and chooses its own."""
    await page.goto(url)
    await page.fill("#login [name=username]", username)
    await page.fill("#login [name=password]", once)
    await page.click("#login [type=submit]")
    change = page.locator("#password-change")
    await change.locator("[name=current]").fill(once)
    await change.locator("[name=next]").fill(new)
    await change.locator("[name=again]").fill(new)
    await change.locator("[type=submit]").click()
    await expect(page.locator("#main")).to_be_visible()


async def add_area(page: Page, name: str, parent: str) -> None:
    form = page.locator("#new-area")
    await form.locator("[name=parent]").select_option(parent)
    await form.locator("[name=name]").fill(name)
    await form.locator("[type=submit]").click()
    key = "*" if parent == "" else (name if parent == "*" else f"{parent}/{name}")
    await expect(page.locator(f'#areas [data-area="{key}"]')).to_be_visible()


async def add_caregiver(page: Page, name: str, lat: float) -> None:
    form = page.locator("#new-caregiver")
    await form.locator("[name=name]").fill(name)
    await form.locator("[name=skills]").fill("basic_care")
    await form.locator("[name=home_lat]").fill(str(lat))
    await form.locator("[name=home_lon]").fill(str(CENTER[1]))
    await form.locator("[type=submit]").click()
    await expect(page.locator("#caregivers tr", has_text=name)).to_be_visible()


async def open_caregiver(page: Page, name: str) -> None:
    await page.locator("#caregivers tr", has_text=name).get_by_role("button").click()
    await expect(page.locator("#caregiver-form")).to_be_visible()


async def caregiver_account(page: Page, username: str, caregiver: str) -> str:
    """A caregiver's log-in made on the accounts tab; its one-time password."""
    await page.click("[data-tab=users]")
    form = page.locator("#new-user")
    await form.locator("[name=username]").fill(username)
    await form.locator("[name=role]").select_option("caregiver")
    await form.locator("[name=caregiver_id]").select_option(label=caregiver)
    await form.locator("[type=submit]").click()
    await expect(page.locator("#message")).to_contain_text(username)
    said = await page.locator("#message").text_content() or ""
    once = re.search(rf"{re.escape(username)}: (\S+)", said)
    assert once is not None, said
    return once.group(1)


async def phone(browser: Browser, server: LiveServer, user: str, once: str, lat: float) -> Page:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="en",
        permissions=["geolocation"],
        geolocation={"latitude": lat, "longitude": CENTER[1]},
    )
    page = await context.new_page()
    await first_log_in(page, f"{server.http}/app/", user, once, NEW_PASSWORD)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    return page


async def test_an_empty_server_goes_live_through_the_command_line_and_the_admin_pages(
    empty_server: LiveServer,
    private_mosquitto: local_services.LocalServer,
    browser: Browser,
    tmp_path: Path,
) -> None:
    server = empty_server
    # 1. The first administrator, from the shell of a server with nothing in it.
    said = cli(server, "users", "add", "chief", "--role", "admin", "--display-name", "王主任")
    [once] = [line.split(": ", 1)[1] for line in said.splitlines() if "one-time" in line]
    admin = await (
        await browser.new_context(viewport={"width": 1440, "height": 900}, locale="en")
    ).new_page()
    await first_log_in(admin, f"{server.http}/admin/", "chief", once, NEW_PASSWORD)
    await admin.click("header .lang")
    await expect(admin.locator("html")).to_have_attribute("lang", "en")

    # 2. The areas, a provider.
    await admin.click("[data-tab=areas]")
    await add_area(admin, "杭州市", "")
    await add_area(admin, "东城区", "*")
    await add_area(admin, "和平街道", "东城区")
    await add_area(admin, "和平里社区", "东城区/和平街道")
    await admin.click("[data-tab=providers]")
    provider = admin.locator("#new-provider")
    await provider.locator("[name=name]").fill("康乐居家养老服务中心")
    await provider.locator("[type=submit]").click()
    await expect(admin.locator("#providers")).to_contain_text("康乐居家养老服务中心")

    # 3. Two caregivers of the provider: the nearer is on leave today; the other works
    # today's weekday (a weekly pattern) at hours around now.
    now = datetime.now(ZoneInfo(TZ))
    await admin.click("[data-tab=caregivers]")
    near, far = ("李桂兰", CENTER[0] + 0.002), ("张建国", CENTER[0] + 0.012)
    for name, lat in (near, far):
        await add_caregiver(admin, name, lat)
        await open_caregiver(admin, name)
        form = admin.locator("#caregiver-form")
        await form.locator("[name=provider_id]").select_option(label="康乐居家养老服务中心")
        if name == near[0]:
            await form.locator("[name=leave_day]").fill(now.date().isoformat())
            await form.locator("#add-leave").click()
        else:
            today = form.locator(f'[data-weekday="{now.isoweekday()}"]')
            await today.locator("[name=works]").check()
            start, end = now - timedelta(hours=1), now + timedelta(hours=4)
            await today.locator("[name=day_start]").fill(start.strftime("%H:%M"))
            await today.locator("[name=day_end]").fill(end.strftime("%H:%M"))
        await form.locator("[type=submit]").click()
        await expect(admin.locator("#message")).to_have_text("Saved")
    await expect(admin.locator("#caregivers tr", has_text=near[0])).to_contain_text(
        now.date().isoformat()
    )
    near_once = await caregiver_account(admin, "li.guilan", near[0])
    far_once = await caregiver_account(admin, "zhang.jianguo", far[0])

    # 4. Elders from the bureau's spreadsheet: a dry run, then the import; the bad row
    # (a latitude of 95) is reported with its line and the good ones go in.
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["external_id", "name", "address", "lat", "lon", "district", "street", "community", "phone"]
    )
    sheet.append(
        [
            "HZ-0001",
            "王秀英",
            "和平里3幢2单元301室",
            CENTER[0],
            CENTER[1],
            "东城区",
            "和平街道",
            "和平里社区",
            "057188001234",
        ]
    )
    sheet.append(["HZ-0002", "周大爷", "和平里8幢", 95, CENTER[1], "东城区", "和平街道", "", ""])
    sheet.append(
        [
            "HZ-0003",
            "孙秀兰",
            "和平里7幢",
            CENTER[0] + 0.003,
            CENTER[1],
            "东城区",
            "和平街道",
            "",
            "",
        ]
    )
    path = tmp_path / "elders.xlsx"
    book.save(path)
    await admin.click("[data-tab=elders]")
    upload = admin.locator("#elder-import")
    await upload.locator("[name=file]").set_input_files(path)
    await upload.locator("[type=submit]").click()
    await expect(admin.locator("#message")).to_contain_text("Dry run: 2 would be created")
    await upload.locator("[name=dry_run]").uncheck()
    await upload.locator("[type=submit]").click()
    await expect(admin.locator("#message")).to_contain_text("Imported: 2 created")
    await expect(admin.locator("#message")).to_contain_text("1 failed")
    await expect(upload.locator('.report [data-line="3"]')).to_contain_text("HZ-0002")
    await expect(admin.locator("#elders tr")).to_have_count(2)

    # 5. An assessment, and a help button given to the elder.
    elder = admin.locator("#elder-form")
    listed = admin.locator("#elders tr", has_text="王秀英")
    await listed.get_by_role("button", name="Open").click()
    items = elder.locator("[name^=score_]")
    await expect(items.first).to_be_visible()  # the record is read, then the form built
    for n in range(await items.count()):
        await items.nth(n).fill("4")
    for item, score in {
        "stairs": 0,
        "walking": 0,
        "aggression": 1,
        "depression": 1,
        "consciousness": 2,
        "vision": 2,
        "hearing": 2,
        "transport": 2,
    }.items():
        await elder.locator(f"[name=score_{item}]").fill(str(score))
    await elder.locator("[name=assessor]").fill("张敏")
    await elder.locator("#assess").click()
    await expect(admin.locator("#message")).to_contain_text("Assessed: total")
    await listed.get_by_role("button", name="Open").click()
    await expect(elder.locator("[name=care_level]")).not_to_have_value("0")
    button = f"pb-{uuid.uuid4().hex[:6]}"
    await elder.locator("[name=device_id]").fill(button)
    await elder.locator("[name=device_kind]").select_option("panic_button")
    await elder.locator("#bind-device").click()
    await expect(admin.locator("#message")).to_have_text(f"Device {button} is now 王秀英's")
    await expect(elder.locator(f'[data-device="{button}"]')).to_be_visible()
    await shoot(admin, "admin-go-live-en")

    # 6. Both caregivers sign in on their phones (the nearer would win, were leave ignored).
    near_phone = await phone(browser, server, "li.guilan", near_once, near[1])
    far_phone = await phone(browser, server, "zhang.jianguo", far_once, far[1])

    # 7. The press, over MQTT on the private broker: the caregiver at work gets it.
    token = await session_cookie(admin)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.http, headers=auth) as http:
        for _ in range(100):  # both phones' positions reached the server
            if len((await http.get("/api/v1/caregivers/live")).json()) == 2:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the phones' positions never reached the server")
        publisher = DevicePublisher(private_mosquitto.url)
        publisher.connect()
        try:
            await asyncio.to_thread(publisher.publish_event, button, "press")
        finally:
            publisher.close()
        offer = far_phone.locator("#offer")
        await expect(offer).to_be_visible(timeout=15000)
        await expect(offer).to_contain_text("王秀英")
        await shoot(far_phone, "app-go-live-offer-en")
        await expect(near_phone.locator("#offer")).to_be_hidden()
        [alert] = (await http.get("/api/v1/alerts")).json()
        assert (alert["district"], alert["street"], alert["community"]) == (
            "东城区",
            "和平街道",
            "和平里社区",
        )
        orders = (await http.get("/api/v1/orders", params={"alert_id": alert["id"]})).json()
        caregivers = {c["id"]: c["name"] for c in (await http.get("/api/v1/caregivers")).json()}
    assert [caregivers[o["caregiver_id"]] for o in orders] == [far[0]]
