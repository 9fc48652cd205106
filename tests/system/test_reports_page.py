"""The alert history page in headless Chromium: filter, page, export, both languages."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.conftest import RunningServer
from tests.helpers import make_user
from tests.integration.test_reports import seed_history
from tests.system.test_web_pages import (  # noqa: F401 (fixtures)
    browser,
    database_url,
    pytestmark,
    shoot,
    sign_in,
)


async def test_the_history_filters_and_exports_what_it_shows(
    browser: Browser,  # noqa: F811
    server: RunningServer,
) -> None:
    h = await asyncio.to_thread(seed_history, server.services.db)
    supervisor = await asyncio.to_thread(make_user, server.services.db, "supervisor")
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, accept_downloads=True
    )
    page = await context.new_page()
    await page.goto(f"{server.http}/reports/")
    await sign_in(page, supervisor, english=False)
    rows = page.locator("#history tbody tr")
    await expect(rows).to_have_count(4)
    await expect(page.locator("#count")).to_have_text("第 1–4 条，共 4 条")
    late = page.locator(f'[data-alert="{h.late}"]')
    await expect(late.locator("[data-reached]")).to_have_text("超时或未到达")
    await shoot(page, "reports-zh")

    await page.click("header .lang")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.select_option("#filters [name=type]", "fall")
    await page.click("#filters [type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-alert", str(h.caught))
    await expect(rows.first.locator("[data-reached]")).to_have_text("Reached in time")
    await expect(rows.first).to_contain_text("Fall without injury")

    async with page.expect_download() as info:
        await page.click("#export-csv")
    download = await info.value
    saved = Path(await download.path())
    text = await asyncio.to_thread(saved.read_text, encoding="utf-8-sig")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [r["alert_id"] for r in exported] == [str(h.caught)]
    assert download.suggested_filename.endswith(".csv")

    # Dates are the centre's days: the 10th of November holds only the fall.
    await page.select_option("#filters [name=type]", "")
    await page.fill("#filters [name=since]", "2026-11-10")
    await page.fill("#filters [name=until]", "2026-11-10")
    await page.click("#filters [type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-alert", str(h.caught))

    phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    small = await phone.new_page()
    await small.goto(f"{server.http}/reports/")
    await sign_in(small, supervisor, english=False)
    await expect(small.locator("#history tbody tr")).to_have_count(4)
    await shoot(small, "reports-phone-en")  # the account kept English
