"""The care map in headless Chromium: the demo city's elders, the 15-minute circle,
the layers, the what-if table, both languages, desktop and phone."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Browser, expect
from sqlmodel import col, select

from dispatch.store.tables import Caregiver, Elder, Facility
from simulators.city import generate_city, seed_city
from tests.conftest import RunningServer
from tests.helpers import make_user
from tests.system.test_web_pages import (  # noqa: F401 (fixtures)
    browser,
    database_url,
    pytestmark,
    shoot,
    sign_in,
)


def _seed_demo(server: RunningServer) -> int:
    """The demo city, with what its generator leaves out: who lives alone, hardship
    categories, a few service stations; and a thin rota (four caregivers) so part of
    the city lies beyond the circle."""
    city = generate_city()
    with server.services.db.session() as session:
        seed_city(session, city)
        elders = session.execute(select(Elder).order_by(col(Elder.id))).scalars().all()
        for k, elder in enumerate(elders):
            elder.living_situation = "alone" if k % 4 == 0 else "with_family"
            elder.hardship = ["特困供养"] if k % 9 == 0 else ["空巢"] if k % 7 == 0 else []
            elder.care_level = k % 5
        carers = session.execute(select(Caregiver).order_by(col(Caregiver.id))).scalars().all()
        for k, carer in enumerate(carers):
            carer.active = k % 4 == 0
        for elder in elders[::75]:
            session.add(Facility(name=f"{elder.street}驿站", kind="station",
                                 lat=elder.lat, lon=elder.lon))  # fmt: skip
    return len(city.elders)


async def test_the_care_map_shows_the_circle_layers_and_the_what_if_table(
    browser: Browser,  # noqa: F811
    server: RunningServer,
) -> None:
    elders = await asyncio.to_thread(_seed_demo, server)
    supervisor = await asyncio.to_thread(make_user, server.services.db, "supervisor")
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    await page.goto(f"{server.http}/reports/map/")
    await sign_in(page, supervisor, english=False)
    # Every elder is a marker; the share is a percentage.
    await expect(page.locator(".leaflet-interactive")).not_to_have_count(0)
    await expect(page.locator("#share")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    await expect(page.locator("#summary")).to_contain_text(f"{elders} 位老人")
    await expect(page.locator("#districts tbody tr")).not_to_have_count(0)
    rows = page.locator("#whatif tbody tr")
    await expect(rows).not_to_have_count(0)
    await expect(page.locator("#whatif thead th")).to_have_count(3 + 7)
    await shoot(page, "care-map-zh")

    markers = await page.locator("path.leaflet-interactive").count()
    await page.check(".panel input[name=only_alone]")
    alone = await page.locator("path.leaflet-interactive").count()
    assert 0 < alone < markers
    await page.uncheck(".panel input[name=only_alone]")
    await page.check(".panel input[value=risk]")
    await expect(page.locator("#legend li")).to_have_count(3)

    await page.click("header .lang")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#summary")).to_contain_text(f"{elders} elders")
    await page.check(".panel input[value=circle]")
    await shoot(page, "care-map-en")

    # The GCJ-02 shift for AMap/Tencent tiles: a few hundred metres in China, none outside.
    shifted = await page.evaluate(
        "import('/static/caremap/gcj02.js').then(m => [m.wgs84ToGcj02(39.90734, 116.39089),"
        " m.wgs84ToGcj02(51.5, -0.12)])"
    )
    (lat, lon), outside = shifted
    assert 0.0005 < lat - 39.90734 < 0.003
    assert 0.004 < lon - 116.39089 < 0.008
    assert outside == [51.5, -0.12]

    # A supervisor finds the map from the board's top bar.
    await page.goto(f"{server.http}/board/")
    await page.click("#to-caremap")
    await expect(page).to_have_url(f"{server.http}/reports/map/")
    await expect(page.locator("#share")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))

    phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    small = await phone.new_page()
    await small.goto(f"{server.http}/reports/map/")
    await sign_in(small, supervisor, english=False)  # the account kept English
    await expect(small.locator("#whatif tbody tr")).not_to_have_count(0)
    await expect(small.locator("html")).to_have_attribute("lang", "en")
    # Nothing is wider than the phone: the what-if table scrolls inside its box.
    assert await small.evaluate("document.documentElement.scrollWidth") <= 390
    await shoot(small, "care-map-phone-en")
    await small.click("header .lang")
    await expect(small.locator("html")).to_have_attribute("lang", "zh-CN")
    await shoot(small, "care-map-phone-zh")
