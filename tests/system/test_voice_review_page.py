"""The supervisor's call review page, in Chromium: draw the month's sample (two
answered calls per operator), play a call's recording, write the review note."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect
from sqlmodel import select

from config.settings import Settings
from dispatch.store.tables import Alert, VoiceCall
from simulators.audio import write_tone
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import PASSWORD, SmallCity, make_user, seed_small_city, wait_until
from tests.system.test_voice_calls import shoot_everywhere
from tests.system.test_web_pages import CHROMIUM, sign_in

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/test.sh does)"
)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    settings.voice_record_calls = True
    settings.voice_recordings_dir = tmp_path / "recordings"
    return settings


@pytest.fixture
async def city(server: RunningServer) -> SmallCity:
    return await asyncio.to_thread(seed_small_city, server.services.db)


def month_of_calls(server: RunningServer, settings: Settings) -> dict[str, list[uuid.UUID]]:
    """This month's calls: op-anna answered two (one recorded), op-bo answered one
    and missed one; every call about the press's alert."""
    now = datetime.now(UTC)
    with server.services.db.session() as session:
        alert = session.exec(select(Alert)).one()
        made: dict[str, list[uuid.UUID]] = {"op-anna": [], "op-bo": []}
        plan = [
            ("op-anna", 45, "anna.wav"),
            ("op-anna", 80, None),
            ("op-bo", 30, None),
            ("op-bo", None, None),  # not answered: never sampled
        ]
        for i, (host, talk_s, recording) in enumerate(plan):
            started = now - timedelta(minutes=10 * (i + 1))
            call = VoiceCall(
                id=uuid.uuid4(),
                alert_id=alert.id,
                host=host,
                parties=["device:pb-review"],
                started_at=started,
                answered_at=started + timedelta(seconds=3) if talk_s else None,
                ended_at=started + timedelta(seconds=3 + (talk_s or 30)),
                end_reason="hung_up" if talk_s else "unavailable",
                recording=recording,
            )
            session.add(call)
            made[host].append(call.id)
    folder = settings.voice_recordings_dir
    folder.mkdir(parents=True, exist_ok=True)
    write_tone(folder / "anna.wav", 440.0, 3)
    return made


def reviewed(server: RunningServer, call_id: uuid.UUID) -> VoiceCall | None:
    with server.services.db.session() as session:
        call = session.get(VoiceCall, call_id)
        return call if call is not None and call.review_note else None


async def test_a_supervisor_draws_the_sample_plays_a_call_and_writes_the_review(
    server: RunningServer,
    settings: Settings,
    city: SmallCity,
    publisher: DevicePublisher,
) -> None:
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

    async def alert_stored() -> bool:
        def count() -> int:
            with server.services.db.session() as session:
                return len(session.exec(select(Alert)).all())

        return await asyncio.to_thread(count) == 1

    await wait_until(alert_stored)
    made = await asyncio.to_thread(month_of_calls, server, settings)
    supervisor = await asyncio.to_thread(make_user, server.services.db, "supervisor")
    operator = await asyncio.to_thread(make_user, server.services.db, "operator", areas=("东城区",))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            # An operator's board has no way in, and the page refuses them.
            board = await browser.new_page()
            await board.goto(f"{server.http}/board/")
            await sign_in(board, operator)
            await expect(board.locator("#to-review")).to_be_hidden()
            refused = await (await browser.new_context()).new_page()
            await refused.goto(f"{server.http}/review/")
            await refused.fill("#login [name=username]", operator)
            await refused.fill("#login [name=password]", PASSWORD)
            await refused.click("#login [type=submit]")
            await expect(refused.locator("#login-error")).not_to_be_empty()
            await expect(refused.locator("#main")).to_be_hidden()

            # The supervisor goes from the board to the review page.
            context = await browser.new_context(viewport={"width": 1440, "height": 900})
            page = await context.new_page()
            await page.goto(f"{server.http}/board/")
            await sign_in(page, supervisor)
            await page.click("#to-review")
            await expect(page.locator("#none")).to_be_visible()  # nothing drawn yet

            await page.click("#draw")
            anna = page.locator('[data-operator="op-anna"] .call')
            bo = page.locator('[data-operator="op-bo"] .call')
            await expect(anna).to_have_count(2)  # both her answered calls
            await expect(bo).to_have_count(1)  # his one answered call; the missed one never
            await expect(page.locator("#message")).to_contain_text("3 call(s) added")
            await expect(page.locator('[data-operator="op-bo"] h2')).to_contain_text(
                "0 of 1 reviewed"
            )
            await expect(page.locator('[data-operator="op-anna"] h2')).to_contain_text(
                "0 of 2 reviewed"
            )
            recorded = page.locator(f'[data-call="{made["op-anna"][0]}"]')
            await expect(recorded).to_contain_text("王秀英")
            await expect(recorded).to_contain_text("talked 0:45")
            await expect(page.locator(f'[data-call="{made["op-bo"][0]}"]')).to_contain_text(
                "No recording"
            )
            await shoot_everywhere(page, "call-review", sizes=("large", "phone"))

            await recorded.locator('[data-review="play"]').click()
            player = recorded.locator("audio.recording")
            await expect(player).to_have_count(1)
            await wait_until(lambda: player.evaluate("(a) => a.currentTime > 0.5"), timeout_s=10)

            await recorded.locator("textarea").fill("Greeted the elder by name; clear next steps.")
            await recorded.locator('[data-review="save"]').click()
            await expect(recorded).to_have_attribute("data-reviewed", "true")
            await expect(recorded).to_contain_text(f"Reviewed by {supervisor}")
            await expect(page.locator('[data-operator="op-anna"] h2')).to_contain_text(
                "1 of 2 reviewed"
            )

            # Drawing again adds nothing: everyone has what there is to sample.
            await page.click("#draw")
            await expect(page.locator("#message")).to_contain_text("already has two calls")
            await expect(page.locator(".call")).to_have_count(3)
        finally:
            await browser.close()

    row = await wait_until(lambda: asyncio.to_thread(reviewed, server, made["op-anna"][0]))
    assert row.reviewed_by == supervisor
    assert row.review_note == "Greeted the elder by name; clear next steps."
