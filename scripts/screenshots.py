"""Pictures of the pages against a running demo, for docs/screenshots/.

    scripts/demo.sh --press-every-s 4 &      # wait until it says it is serving
    .venv/bin/python scripts/screenshots.py  # http://127.0.0.1:8000 by default
    # with /admin/ too: an administrator made with `carebell users add NAME --role admin`
    .venv/bin/python scripts/screenshots.py --admin NAME --admin-password SECRET
    # only the admin pages (its accounts, providers and caregiver tabs)
    .venv/bin/python scripts/screenshots.py --only admin --admin NAME --admin-password SECRET

Uses Debian's chromium through Playwright, like the browser tests, and Debian's
fonts-noto-cjk for the Chinese pictures (installed when missing, as root).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def ensure_cjk_font() -> None:
    """Without a font that has Chinese characters the zh-CN pictures show boxes."""
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    if fonts.stdout.strip():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit("no CJK font: install Debian's fonts-noto-cjk (the zh-CN pages would be boxes)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "fonts-noto-cjk"], check=True, env=env)


async def sign_in(page: Page, url: str, username: str, password: str, locale: str) -> None:
    await page.goto(url)
    await page.fill("#login [name=username]", username)
    await page.fill("#login [name=password]", password)
    await page.click("#login [type=submit]")
    await page.wait_for_selector("#main:not([hidden])")
    if await page.get_attribute("html", "lang") != locale:
        await page.click("header .lang")
        await page.wait_for_selector(f"html[lang='{locale}']")


# The pages show times in the browser's zone; the centre's staff are in the city's
# (config/settings.py), so the pictures are too, whatever this machine's zone is.
CITY_ZONE = "Asia/Shanghai"
LARGE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


async def admin_tabs(page: Page, size: str, tag: str) -> None:
    """The admin page's providers tab, and a caregiver's record opened (shifts, leave)."""
    await page.click("[data-tab=providers]")
    await asyncio.sleep(0.5)
    await page.screenshot(path=OUT / f"admin-providers-{size}-{tag}.png")
    await page.click("[data-tab=caregivers]")
    opened = page.locator("#caregivers tr button").first
    if await opened.count():
        await opened.click()
        await page.locator("#caregiver-form").scroll_into_view_if_needed()
        await asyncio.sleep(0.5)
    await page.screenshot(path=OUT / f"admin-caregiver-{size}-{tag}.png")


async def main(
    base: str, password: str, wait_s: float, admin: tuple[str, str] | None, only: str
) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"]
        )
        for locale, tag in (("zh-CN", "zh"), ("en", "en")):
            if only == "admin":
                assert admin is not None, "--only admin needs --admin and --admin-password"
                await shoot_pages(browser, base, [(*admin, "admin")], locale, tag)
                continue
            board = await (
                await browser.new_context(viewport=LARGE, locale=locale, timezone_id=CITY_ZONE)
            ).new_page()
            await sign_in(board, f"{base}/board/", "sup1", password, locale)
            await asyncio.sleep(wait_s)
            if await board.locator(".alert").count():
                await board.locator(".alert").first.click()
                await asyncio.sleep(1.0)
            await board.screenshot(path=OUT / f"board-{tag}.png")
            phone = await (
                await browser.new_context(
                    viewport={"width": 390, "height": 844},
                    locale=locale,  # as a Chinese user's phone: dates in the page's language
                    timezone_id=CITY_ZONE,
                    is_mobile=True,
                    has_touch=True,
                    permissions=["geolocation"],
                    geolocation={"latitude": 30.2741, "longitude": 120.1551},
                )
            ).new_page()
            await sign_in(phone, f"{base}/app/", "cg01", password, locale)
            await asyncio.sleep(2.0)
            await phone.screenshot(path=OUT / f"app-{tag}.png")
            # The family page of the first demo elder's daughter, on her phone.
            family = await (
                await browser.new_context(
                    viewport=PHONE, is_mobile=True, has_touch=True, timezone_id=CITY_ZONE
                )
            ).new_page()
            await sign_in(family, f"{base}/family/", "fam01", password, locale)
            await asyncio.sleep(2.0)
            await family.screenshot(path=OUT / f"family-demo-{tag}.png")
            # The other pages, on a large screen and on a small phone.
            pages = [("sup1", password, page) for page in ("reports", "review", "services")]
            if admin:
                pages.append((*admin, "admin"))
            await shoot_pages(browser, base, pages, locale, tag)
        await browser.close()
    print(f"screenshots in {OUT}")


async def shoot_pages(
    browser: Browser, base: str, pages: list[tuple[str, str, str]], locale: str, tag: str
) -> None:
    """Each page on a large screen and on a small phone."""
    for username, secret, page_name in pages:
        for size, viewport in (("large", LARGE), ("phone", PHONE)):
            page = await (
                await browser.new_context(viewport=viewport, locale=locale, timezone_id=CITY_ZONE)
            ).new_page()
            await sign_in(page, f"{base}/{page_name}/", username, secret, locale)
            await asyncio.sleep(2.0)
            await page.screenshot(path=OUT / f"{page_name}-{size}-{tag}.png")
            if page_name == "admin":
                await admin_tabs(page, size, tag)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--password", default="carebell")
    parser.add_argument("--wait-s", type=float, default=20.0, help="let alerts come in first")
    parser.add_argument("--admin", default="", help="an administrator's account, for /admin/")
    parser.add_argument("--admin-password", default="", help="its password")
    parser.add_argument("--only", choices=["all", "admin"], default="all", help="which pages")
    args = parser.parse_args()
    ensure_cjk_font()
    admin = (args.admin, args.admin_password) if args.admin else None
    asyncio.run(main(args.url, args.password, args.wait_s, admin, args.only))
