"""The administrators' pages in headless Chromium: from a fresh install's first
administrator to accounts, areas, an elder's record and a caregiver."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook
from playwright.async_api import Browser, Page, async_playwright, expect

from dispatch.domain.access import Role
from dispatch.registry import accounts
from dispatch.store.tables import Caregiver
from tests.conftest import RunningServer
from tests.helpers import PASSWORD, make_user, session_cookie
from tests.system.test_web_pages import CHROMIUM, shoot

NEW_PASSWORD = "Brass-otter-lantern-71"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/test.sh does)"
)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


async def first_admin(browser: Browser, server: RunningServer, *, width: int = 1440) -> Page:
    """The first administrator signs in with their one-time password and chooses their own."""
    new = accounts.NewAccount("chief", Role.ADMIN, "王主任")
    _user, once = await asyncio.to_thread(
        accounts.add_account, server.services.db, new, now=datetime.now(UTC)
    )
    assert once is not None
    context = await browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{server.http}/admin/")
    await page.fill("#login [name=username]", "chief")
    await page.fill("#login [name=password]", once)
    await page.click("#login [type=submit]")
    change = page.locator("#password-change")
    await expect(change).to_be_visible()
    await expect(page.locator("#main")).to_be_hidden()
    await change.locator("[name=current]").fill(once)
    await change.locator("[name=next]").fill("password123")
    await change.locator("[name=again]").fill("password123")
    await change.locator("[type=submit]").click()
    await expect(change.locator(".error")).to_contain_text("未被接受")
    await change.locator("[name=next]").fill(NEW_PASSWORD)
    await change.locator("[name=again]").fill(NEW_PASSWORD)
    await change.locator("[type=submit]").click()
    await expect(page.locator("#main")).to_be_visible()
    return page


async def add_area(page: Page, name: str, parent: str) -> None:
    form = page.locator("#new-area")
    await form.locator("[name=parent]").select_option(parent)
    await form.locator("[name=name]").fill(name)
    await form.locator("[type=submit]").click()
    key = name if parent in ("", "*") else f"{parent}/{name}"
    await expect(
        page.locator(f'#areas [data-area="{"*" if parent == "" else key}"]')
    ).to_be_visible()


async def test_an_administrator_sets_up_accounts_areas_an_elder_and_a_caregiver(
    server: RunningServer, browser: Browser, tmp_path: Path
) -> None:
    page = await first_admin(browser, server)
    await page.click("header .lang")  # to English, remembered on the account
    await expect(page.locator("html")).to_have_attribute("lang", "en")

    await page.click("[data-tab=areas]")
    await expect(page.locator("#areas-none")).to_be_visible()
    await add_area(page, "杭州市", "")
    await add_area(page, "东城区", "*")
    await add_area(page, "和平街道", "东城区")
    await add_area(page, "和平里社区", "东城区/和平街道")
    await shoot(page, "admin-areas-en")

    await page.click("[data-tab=users]")
    form = page.locator("#new-user")
    await form.locator("[name=username]").fill("op.heping")
    await form.locator("[name=display_name]").fill("李坐席")
    await form.locator("[name=role]").select_option("operator")
    await form.locator("[name=areas]").select_option("东城区/和平街道")
    await form.locator("[type=submit]").click()
    await expect(page.locator("#message")).to_contain_text("One-time password for op.heping")
    message = await page.locator("#message").text_content() or ""
    once = re.search(r"op\.heping: (\S+)", message)
    assert once is not None
    row = page.locator('[data-user="op.heping"]')
    await expect(row).to_contain_text("东城区/和平街道")
    await expect(row).to_contain_text("Waiting for first log-in")
    await shoot(page, "admin-users-en")
    await row.get_by_role("button", name="Disable").click()
    await expect(row).to_contain_text("Disabled")
    await row.get_by_role("button", name="Enable").click()
    await expect(row).to_contain_text("Waiting for first log-in")

    await page.click("[data-tab=elders]")
    await page.click("#new-elder")
    elder = page.locator("#elder-form")
    for name, value in {
        "name": "陈淑珍",
        "external_id": "HZ-0001",
        "id_number": "330102194403150023",
        "address": "和平里社区5幢1单元202室",
        "lat": "30.28",
        "lon": "120.16",
        "district": "东城区",
        "street": "和平街道",
        "community": "和平里社区",
        "notes": "高血压",
        "access_notes": "门禁 1234#",
    }.items():
        await elder.locator(f"[name={name}]").fill(value)
    await elder.locator("[name=living_situation]").select_option("alone")
    await elder.locator("[name=hardship][value=kongchao]").check()
    first = elder.locator(".contact").first
    await first.locator("[name=c_name]").fill("陈晓红")
    await first.locator("[name=c_relation]").fill("女儿")
    await first.locator("[name=c_phone]").fill("13900002222")
    await first.locator("[name=c_key]").check()
    await elder.locator("[type=submit]").click()
    listed = page.locator("#elders tr", has_text="陈淑珍")
    await expect(listed).to_contain_text("330102********0023")
    await listed.get_by_role("button", name="Open").click()
    await expect(elder.locator("[name=id_number]")).to_have_value("330102194403150023")
    await expect(elder.locator(".contact").first.locator("[name=c_name]")).to_have_value("陈晓红")
    await shoot(page, "admin-elder-en")
    await elder.locator("[name=care_level]").fill("3")
    await elder.locator("[type=submit]").click()
    await expect(page.locator("#message")).to_have_text("Saved")
    await listed.get_by_role("button", name="Open").click()
    await expect(elder.locator("[name=care_level]")).to_have_value("3")
    # A capability assessment on the record: every item, then the grade it gives.
    items = elder.locator("[name^=score_]")
    count = await items.count()
    assert count == 26
    for n in range(count):
        await items.nth(n).fill("4")
    await elder.locator("[name=score_stairs]").fill("0")
    await elder.locator("[name=score_walking]").fill("0")
    await elder.locator("[name=score_vision]").fill("2")
    await elder.locator("[name=score_hearing]").fill("2")
    await elder.locator("[name=score_transport]").fill("2")
    await elder.locator("[name=score_aggression]").fill("1")
    await elder.locator("[name=score_depression]").fill("1")
    await elder.locator("[name=score_consciousness]").fill("2")
    await elder.locator("[name=assessor]").fill("张敏")
    await elder.locator("#assess").click()
    await expect(page.locator("#message")).to_contain_text("total 82")
    await expect(page.locator("#message")).to_contain_text("care level 1")
    await listed.get_by_role("button", name="Open").click()
    await expect(elder.locator("[name=care_level]")).to_have_value("1")
    await page.locator("#deactivate-reason").select_option("in_institution")
    await page.click("#elder-deactivate")
    await expect(listed).to_contain_text("Deactivated")

    # An XLSX file of elders: a dry run first, then the import; the bad row is named.
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["external_id", "name", "address", "lat", "lon", "district", "street"])
    sheet.append(["HZ-0100", "孙秀兰", "和平里7幢", 30.281, 120.161, "东城区", "和平街道"])
    sheet.append(["HZ-0101", "周大爷", "和平里8幢", 95, 120.161, "东城区", "和平街道"])
    path = tmp_path / "elders.xlsx"
    book.save(path)
    upload = page.locator("#elder-import")
    await upload.locator("[name=file]").set_input_files(path)
    await upload.locator("[type=submit]").click()
    await expect(page.locator("#message")).to_contain_text("Dry run: 1 would be created")
    await expect(upload.locator('.report [data-line="3"]')).to_contain_text("HZ-0101")
    await expect(page.locator("#elders")).not_to_contain_text("孙秀兰")
    await upload.locator("[name=dry_run]").uncheck()
    await upload.locator("[type=submit]").click()
    await expect(page.locator("#message")).to_contain_text("Imported: 1 created")
    await expect(page.locator("#elders")).to_contain_text("孙秀兰")
    await shoot(page, "admin-import-en")

    await page.click("[data-tab=caregivers]")
    cg = page.locator("#new-caregiver")
    await cg.locator("[name=name]").fill("周海燕")
    await cg.locator("[name=skills]").fill("basic_care, first_aid")
    await cg.locator("[name=home_lat]").fill("30.27")
    await cg.locator("[name=home_lon]").fill("120.15")
    await cg.locator("[type=submit]").click()
    await expect(page.locator("#caregivers")).to_contain_text("周海燕")
    await expect(page.locator("#caregivers")).to_contain_text("basic_care, first_aid")


async def test_the_pages_fit_a_phone_in_chinese(server: RunningServer, browser: Browser) -> None:
    page = await first_admin(browser, server, width=390)
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.locator("[data-tab=elders]")).to_have_text("老人")
    await page.click("[data-tab=elders]")
    await page.click("#new-elder")
    await expect(page.locator("#elder-form")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1  # nothing runs off a phone's screen
    await shoot(page, "admin-elder-phone-zh")


async def test_other_roles_are_refused_by_the_admin_page(
    server: RunningServer, browser: Browser
) -> None:
    username = await asyncio.to_thread(make_user, server.services.db, "supervisor")
    page = await (await browser.new_context(locale="en")).new_page()
    await page.goto(f"{server.http}/admin/")
    await page.fill("#login [name=username]", username)
    await page.fill("#login [name=password]", PASSWORD)
    await page.click("#login [type=submit]")
    await expect(page.locator("#login-error")).to_have_text("This account cannot use this page")
    await expect(page.locator("#main")).to_be_hidden()


async def test_providers_facilities_and_a_caregivers_shifts_leave_and_certificates(
    server: RunningServer, browser: Browser
) -> None:
    page = await first_admin(browser, server)
    await page.click("header .lang")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.click("[data-tab=areas]")
    await add_area(page, "杭州市", "")
    await add_area(page, "东城区", "*")

    await page.click("[data-tab=providers]")
    await expect(page.locator("#providers-none")).to_be_visible()
    provider = page.locator("#new-provider")
    await provider.locator("[name=name]").fill("康乐居家养老服务中心")
    await provider.locator("[name=phone]").fill("0571-88880000")
    await provider.locator("[type=submit]").click()
    await expect(page.locator("#providers")).to_contain_text("康乐居家养老服务中心")
    # A name that is markup stays text (the page escapes everything).
    await provider.locator("[name=name]").fill("<img src=x onerror=alert(1)>")
    await provider.locator("[type=submit]").click()
    await expect(page.locator("#providers")).to_contain_text("<img src=x onerror=alert(1)>")
    assert await page.locator("#providers img").count() == 0
    facility = page.locator("#new-facility")
    await facility.locator("[name=name]").fill("和平服务站")
    await facility.locator("[name=kind]").select_option("station")
    await facility.locator("[name=provider_id]").select_option(label="康乐居家养老服务中心")
    await facility.locator("[name=area]").select_option("东城区")
    await facility.locator("[name=lat]").fill("30.275")
    await facility.locator("[name=lon]").fill("120.155")
    await facility.locator("[name=opening_hours]").fill("Mo-Su 07:00-21:00")
    await facility.locator("[type=submit]").click()
    station_row = page.locator("#facilities tr", has_text="和平服务站")
    await expect(station_row).to_contain_text("Service station")
    await expect(station_row).to_contain_text("康乐居家养老服务中心")
    await shoot(page, "admin-providers-en")

    await page.click("[data-tab=caregivers]")
    new = page.locator("#new-caregiver")
    await new.locator("[name=name]").fill("周海燕")
    await new.locator("[name=skills]").fill("basic_care, first_aid")
    await new.locator("[name=home_lat]").fill("30.27")
    await new.locator("[name=home_lon]").fill("120.15")
    await new.locator("[type=submit]").click()
    row = page.locator("#caregivers tr", has_text="周海燕")
    await expect(row).to_contain_text("daily 08:00–20:00")
    await row.get_by_role("button", name="Open").click()
    form = page.locator("#caregiver-form")
    await expect(form).to_be_visible()
    await form.locator("[name=provider_id]").select_option(label="康乐居家养老服务中心")
    await form.locator("[name=station_id]").select_option(label="和平服务站")
    for day in ("1", "3", "5"):
        week_day = form.locator(f'[data-weekday="{day}"]')
        await week_day.locator("[name=works]").check()
        await week_day.locator("[name=day_start]").fill("07:30")
        await week_day.locator("[name=day_end]").fill("15:30")
    for day in ("2030-01-07", "2030-01-08", "2030-01-09"):
        await form.locator("[name=leave_day]").fill(day)
        await form.locator("#add-leave").click()
    await form.locator('[data-leave="2030-01-08"] button').click()
    await expect(form.locator("#caregiver-leave li")).to_have_count(2)
    cert = form.locator(".certificate").first
    await cert.locator("[name=cert_skill]").fill("first_aid")
    await cert.locator("[name=cert_name]").fill("红十字救护员证")
    await cert.locator("[name=cert_expires]").fill("2020-06-30")
    await shoot(page, "admin-caregiver-en")
    await form.locator("[type=submit]").click()
    await expect(page.locator("#message")).to_have_text("Saved")
    await expect(form).to_be_hidden()
    await expect(row).to_contain_text("康乐居家养老服务中心")
    await expect(row).to_contain_text("Mon 07:30–15:30、Wed 07:30–15:30、Fri 07:30–15:30")
    await expect(row).to_contain_text("2030-01-07、2030-01-09")

    # What the page saved is the record the dispatcher reads.
    token = await session_cookie(page)
    async with httpx.AsyncClient(base_url=server.http) as http:
        listed = await http.get("/api/v1/caregivers", headers={"Authorization": f"Bearer {token}"})
    [record] = [c for c in listed.json() if c["name"] == "周海燕"]
    assert record["weekly_shifts"] == {d: ["07:30:00", "15:30:00"] for d in ("1", "3", "5")}
    assert record["leave_days"] == ["2030-01-07", "2030-01-09"]
    assert record["provider"] == "康乐居家养老服务中心"
    assert (record["station_lat"], record["station_lon"]) == (30.275, 120.155)
    assert record["certificates"] == [
        {"skill": "first_aid", "name": "红十字救护员证", "expires_on": "2020-06-30"}
    ]

    # A shift that starts when it ends is refused with the reason, and nothing is lost.
    await row.get_by_role("button", name="Open").click()
    await form.locator("[name=shift_start]").fill("09:00")
    await form.locator("[name=shift_end]").fill("09:00")
    await form.locator("[type=submit]").click()
    await expect(page.locator("#message")).to_contain_text("Could not do that")
    await expect(form).to_be_visible()
    await expect(form.locator('[data-weekday="3"] [name=works]')).to_be_checked()


async def test_the_workforce_controls_fit_a_phone_in_chinese(
    server: RunningServer, browser: Browser
) -> None:
    page = await first_admin(browser, server, width=390)
    await page.click("[data-tab=providers]")
    await expect(page.locator("#new-facility h2")).to_have_text("新建设施")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    await shoot(page, "admin-providers-phone-zh")
    await page.click("[data-tab=caregivers]")
    new = page.locator("#new-caregiver")
    await new.locator("[name=name]").fill("周海燕")
    await new.locator("[name=skills]").fill("basic_care")
    await new.locator("[name=home_lat]").fill("30.27")
    await new.locator("[name=home_lon]").fill("120.15")
    await new.locator("[type=submit]").click()
    await page.locator("#caregivers tr", has_text="周海燕").get_by_role("button").click()
    await expect(page.locator('#caregiver-form [data-weekday="1"]')).to_contain_text("周一")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    await shoot(page, "admin-caregiver-phone-zh")
    # A caregiver imported with their provider's name and no provider record keeps
    # the name when their record is saved from the page.
    cg_id = await asyncio.to_thread(_imported_caregiver, server)
    await page.locator("#caregiver-cancel").click()
    await page.reload()
    await page.click("[data-tab=caregivers]")
    await page.locator("#caregivers tr", has_text="何丽娟").get_by_role("button").click()
    await page.locator("#caregiver-form [name=phone]").fill("13900001111")
    await page.locator("#caregiver-form [type=submit]").click()
    await expect(page.locator("#message")).to_have_text("已保存")
    with server.services.db.read() as session:
        saved = session.get(Caregiver, cg_id)
        assert saved is not None
        assert (saved.phone, saved.provider) == ("13900001111", "康乐居家养老服务中心")


def _imported_caregiver(server: RunningServer) -> uuid.UUID:
    with server.services.db.session() as session:
        row = Caregiver(
            name="何丽娟",
            provider="康乐居家养老服务中心",
            skills=["basic_care"],
            shift_start=time(8),
            shift_end=time(20),
            home_lat=30.27,
            home_lon=120.15,
        )
        session.add(row)
        return row.id
