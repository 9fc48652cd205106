"""Two-way voice as a person would use it, in headless Chromium with fake media.

The operator's microphone is a 440 Hz tone file, the simulated device plays a
660 Hz tone and a caregiver's phone a 880 Hz one. A call "carries the operator's
voice" when the other side's recording is strongest at 440 Hz, and so on: the
tests listen for frequencies, not just bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from sqlmodel import select

from config.settings import Settings
from dispatch.store.tables import Alert, AuditRecord, Caregiver, VoiceCall
from simulators.audio import dominant_frequency_hz, read_mono, share_near, write_tone
from simulators.devices import DevicePublisher
from simulators.voice_device import VoiceDevice
from tests.conftest import RunningServer
from tests.helpers import (
    CENTER,
    SmallCity,
    bearer,
    login,
    make_user,
    seed_small_city,
    wait_until,
)
from tests.system.test_web_pages import CHROMIUM, SCREENSHOTS, sign_in

OPERATOR_HZ, DEVICE_HZ, CAREGIVER_HZ = 440.0, 660.0, 880.0
TOLERANCE_HZ = 15.0
NOBODY_HZ = 1234.0  # a frequency no party plays: the noise floor to compare with

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/test.sh does)"
)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    settings.voice_loopback_only = True  # every party on this machine: no packet leaves it
    settings.voice_recordings_dir = tmp_path / "recordings"
    return settings


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tones")
    return {
        "operator": write_tone(folder / "operator.wav", OPERATOR_HZ, 30),
        "device": write_tone(folder / "device.wav", DEVICE_HZ, 30),
        "caregiver": write_tone(folder / "caregiver.wav", CAREGIVER_HZ, 30),
    }


@contextlib.asynccontextmanager
async def chromium_speaking(tone: Path) -> AsyncIterator[Browser]:
    """Chromium whose microphone plays ``tone`` (and which may use loopback for WebRTC)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--autoplay-policy=no-user-gesture-required",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={tone}",
                "--allow-loopback-in-peer-connection",
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def city(server: RunningServer) -> SmallCity:
    return await asyncio.to_thread(seed_small_city, server.services.db)


@pytest.fixture
async def talking_device(
    settings: Settings, city: SmallCity, tones: dict[str, Path], tmp_path: Path
) -> AsyncIterator[VoiceDevice]:
    device = VoiceDevice(
        settings.mqtt_url,
        [city.device_id],
        voice_file=tones["device"],
        record_dir=tmp_path / "heard",
        loopback_only=True,
    )
    task = asyncio.create_task(device.run())
    await asyncio.wait_for(device.ready.wait(), 10)
    yield device
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def board_page(browser: Browser, server: RunningServer) -> tuple[Page, str]:
    username = await asyncio.to_thread(make_user, server.services.db, "operator", areas=("东城区",))
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    await page.goto(f"{server.http}/board/")
    await sign_in(page, username)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    return page, username


async def app_page(browser: Browser, server: RunningServer, caregiver_id: object) -> Page:
    username = await asyncio.to_thread(
        make_user, server.services.db, "caregiver", caregiver_id=caregiver_id
    )
    context: BrowserContext = await browser.new_context(
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
    return page


# What a page hears from one party: the strongest frequency of the remote audio the
# softphone plays (its <audio class="voice-remote"> element), over about a second.
HEARD_HZ = """async (party) => {
  const el = document.querySelector(`audio.voice-remote[data-party="${party}"]`);
  if (!el || !el.srcObject) return 0;
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 16384;
  ctx.createMediaStreamSource(el.srcObject).connect(analyser);
  await new Promise((r) => setTimeout(r, 1000));
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 1;
  for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  const hz = (best * ctx.sampleRate) / analyser.fftSize;
  await ctx.close();
  return bins[best] > -90 ? hz : 0;
}"""


# How loud each of ``hz`` is (dB, the strongest bin within 10 Hz) in what a page hears.
HEARD_LEVELS = """async ([party, wanted]) => {
  const el = document.querySelector(`audio.voice-remote[data-party="${party}"]`);
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 16384;
  ctx.createMediaStreamSource(el.srcObject).connect(analyser);
  await new Promise((r) => setTimeout(r, 1000));
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  const width = ctx.sampleRate / analyser.fftSize;
  const levels = wanted.map((hz) => {
    let best = -Infinity;
    for (let i = Math.floor((hz - 10) / width); i <= Math.ceil((hz + 10) / width); i++) {
      best = Math.max(best, bins[i]);
    }
    return best;
  });
  await ctx.close();
  return levels;
}"""


async def heard_levels_db(page: Page, party: str, hz: list[float]) -> dict[float, float]:
    levels = await page.evaluate(HEARD_LEVELS, [party, hz])
    return dict(zip(hz, levels, strict=True))


async def heard_hz(page: Page, party: str) -> float:
    return float(await page.evaluate(HEARD_HZ, party))


SIZES = {"large": {"width": 1920, "height": 1080}, "phone": {"width": 390, "height": 844}}


async def shoot_everywhere(
    page: Page, name: str, sizes: tuple[str, ...] = ("large", "phone")
) -> None:
    """With CAREBELL_SCREENSHOTS set: ``name`` on each screen size, in English and Chinese."""
    if not SCREENSHOTS:
        return
    before = page.viewport_size
    for size in sizes:
        await page.set_viewport_size(SIZES[size])
        for lang in ("en", "zh"):
            await page.screenshot(path=f"{SCREENSHOTS}/{name}-{size}-{lang}.png")
            await page.click("header .lang")
    if before:
        await page.set_viewport_size(before)


def recorded_hz(path: Path) -> float:
    samples, rate = read_mono(path)
    return dominant_frequency_hz(samples[rate // 2 :], rate)  # past the first half second


async def test_a_press_opens_a_voice_session_and_both_sides_hear_each_other(
    server: RunningServer,
    city: SmallCity,
    publisher: DevicePublisher,
    talking_device: VoiceDevice,
    tones: dict[str, Path],
) -> None:
    async with chromium_speaking(tones["operator"]) as browser:
        board, operator = await board_page(browser, server)
        await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

        # The press waits on the softphone as a call to answer.
        waiting = board.locator(f'.voice-waiting li[data-party="device:{city.device_id}"]')
        await expect(waiting).to_contain_text("王秀英")
        # Taking the alert is not answering it, as the KPI counts it: the elder's
        # device talks, so the queue's countdown runs on until someone speaks to her.
        row = board.locator(".alert").first
        await row.click()
        await board.click('[data-action="acknowledge"]')
        await expect(row).not_to_have_class(re.compile(r"\bunack\b"))
        await expect(row.locator(".answer")).to_contain_text("answer in")
        await waiting.locator('[data-voice="answer"]').click()
        softphone = board.locator("#softphone")
        await expect(softphone).to_have_attribute("data-state", "connected", timeout=10_000)
        await expect(board.locator(".voice-waiting")).to_have_count(0)
        await expect(row.locator(".answer")).to_have_text("")  # answered: she was spoken to
        call_on_card = board.locator("#detail .calls li")
        await expect(call_on_card).to_contain_text("Connected")

        # The board hears the device's voice...
        party = f"device:{city.device_id}"
        await wait_until(lambda: heard_hz(board, party), timeout_s=10)
        assert abs(await heard_hz(board, party) - DEVICE_HZ) < TOLERANCE_HZ
        await asyncio.sleep(1.5)  # the operator speaks for a while
        await expect(softphone.locator(".voice-timer")).not_to_have_text("–")
        # Speaking to the elder is what answers the alert.
        kpi = board.locator('[data-kpi="answered_within_target"] b')
        await expect(kpi).to_have_text("100%")
        await shoot_everywhere(board, "softphone-board")
        await board.click('[data-voice="hangup"]')
        await expect(softphone).to_have_attribute("data-state", "ended")
        await expect(call_on_card).to_contain_text("talked 0:")

    # ...and the device's recording holds the operator's.
    (recording,) = talking_device.recordings
    assert recording.connected

    async def hung_up() -> bool:
        return not talking_device.peers

    await wait_until(hung_up, timeout_s=5)
    assert abs(recorded_hz(recording.path) - OPERATOR_HZ) < TOLERANCE_HZ

    # The call is on the record and on the alert's timeline, with its duration.
    def call_rows() -> tuple[list[VoiceCall], list[AuditRecord]]:
        with server.services.db.session() as session:
            calls = list(session.exec(select(VoiceCall)).all())
            steps = session.exec(
                select(AuditRecord).where(AuditRecord.action.startswith("call_"))  # type: ignore[union-attr]
            ).all()
            return calls, list(steps)

    calls, steps = await asyncio.to_thread(call_rows)
    (call,) = calls
    assert call.host == operator
    assert call.parties == [party]
    assert call.requested_by == party  # the press asked for it
    assert call.answered_at is not None
    assert call.ended_at is not None
    talk_s = (call.ended_at - call.answered_at).total_seconds()
    assert 1.5 <= talk_s < 30
    assert [s.action for s in steps] == ["call_started", "call_answered", "call_ended"]
    assert steps[-1].detail["talk_s"] == pytest.approx(talk_s, abs=0.2)
    assert steps[-1].alert_id == call.alert_id


async def test_the_board_says_plainly_when_a_device_cannot_talk(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher, tones: dict[str, Path]
) -> None:
    bell = "db-voice-1"
    await asyncio.to_thread(_add_door_bell, server, city, bell)
    async with chromium_speaking(tones["operator"]) as browser:
        board, _ = await board_page(browser, server)
        await asyncio.to_thread(publisher.publish_event, bell, "press")
        await board.locator(".alert").first.click()
        await expect(board.locator('[data-voice="cannot-talk"]')).to_be_visible()
        await expect(board.locator('[data-voice="talk"]')).to_have_count(0)
        await expect(board.locator(".voice-waiting")).to_have_count(0)  # a bell does not call
        # A bell cannot talk: taking its alert answers it, on the queue as in the KPI.
        row = board.locator(".alert").first
        await expect(row.locator(".answer")).to_contain_text("answer in")
        await board.click('[data-action="acknowledge"]')
        await expect(row.locator(".answer")).to_have_text("")


def _add_door_bell(server: RunningServer, city: SmallCity, device_id: str) -> None:
    from dispatch.store.tables import Device

    with server.services.db.session() as session:
        session.add(Device(id=device_id, kind="door_bell", elder_id=city.elder_id))
        session.commit()


async def test_operator_and_caregiver_talk_one_tap_each_way(
    server: RunningServer, city: SmallCity, tones: dict[str, Path]
) -> None:
    party = f"caregiver:{city.near_id}"
    async with (
        chromium_speaking(tones["operator"]) as board_browser,
        chromium_speaking(tones["caregiver"]) as phone_browser,
    ):
        board, operator = await board_page(board_browser, server)
        app = await app_page(phone_browser, server, city.near_id)

        # The caregiver taps once; the operator answers once.
        await app.click('[data-voice="request"]')
        waiting = board.locator(f'.voice-waiting li[data-party="{party}"]')
        await expect(waiting).to_contain_text(await _caregiver_name(server, city))
        await waiting.locator('[data-voice="answer"]').click()
        await expect(board.locator("#softphone")).to_have_attribute(
            "data-state", "connected", timeout=10_000
        )
        await expect(app.locator("#softphone")).to_have_attribute("data-state", "connected")
        await wait_until(lambda: heard_hz(board, party), timeout_s=10)
        await wait_until(lambda: heard_hz(app, f"operator:{operator}"), timeout_s=10)
        assert abs(await heard_hz(board, party) - CAREGIVER_HZ) < TOLERANCE_HZ
        assert abs(await heard_hz(app, f"operator:{operator}") - OPERATOR_HZ) < TOLERANCE_HZ
        await shoot_everywhere(app, "softphone-app", sizes=("phone",))
        await app.click('[data-voice="hangup"]')
        await expect(board.locator("#softphone")).to_have_attribute("data-state", "ended")

        # The other way: the operator picks the caregiver and calls; the phone rings.
        await expect(app.locator('[data-voice="request"]')).to_be_visible()
        await board.select_option('[data-voice="contact"]', party)
        await board.click('[data-voice="dial"]')
        await expect(app.locator("#softphone")).to_have_attribute("data-state", "incoming")
        await app.click('[data-voice="accept"]')
        await expect(board.locator("#softphone")).to_have_attribute(
            "data-state", "connected", timeout=10_000
        )
        # ...and they hear each other this way too.
        await wait_until(lambda: heard_hz(app, f"operator:{operator}"), timeout_s=10)
        await wait_until(lambda: heard_hz(board, party), timeout_s=10)
        assert abs(await heard_hz(app, f"operator:{operator}") - OPERATOR_HZ) < TOLERANCE_HZ
        assert abs(await heard_hz(board, party) - CAREGIVER_HZ) < TOLERANCE_HZ
        await board.click('[data-voice="hangup"]')
        await expect(app.locator("#softphone")).not_to_have_attribute("data-state", "connected")

    def calls() -> list[VoiceCall]:
        with server.services.db.session() as session:
            return list(session.exec(select(VoiceCall)).all())

    rows = await asyncio.to_thread(calls)
    assert len(rows) == 2
    assert all(r.parties == [party] and r.answered_at for r in rows)
    assert sorted(str(r.requested_by) for r in rows) == ["None", party]


async def _caregiver_name(server: RunningServer, city: SmallCity) -> str:
    def name() -> str:
        with server.services.db.session() as session:
            caregiver = session.get(Caregiver, city.near_id)
            assert caregiver is not None
            return caregiver.name

    return await asyncio.to_thread(name)


@pytest.fixture
def recording_bureau(settings: Settings) -> Settings:
    settings.voice_record_calls = True
    return settings


async def test_a_three_way_call_mixes_everyone_and_is_recorded_for_supervisors(
    recording_bureau: Settings,
    server: RunningServer,
    city: SmallCity,
    publisher: DevicePublisher,
    talking_device: VoiceDevice,
    tones: dict[str, Path],
) -> None:
    device, caregiver = f"device:{city.device_id}", f"caregiver:{city.near_id}"
    async with (
        chromium_speaking(tones["operator"]) as board_browser,
        chromium_speaking(tones["caregiver"]) as phone_browser,
    ):
        board, operator = await board_page(board_browser, server)
        app = await app_page(phone_browser, server, city.near_id)
        await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
        await board.locator(
            f'.voice-waiting li[data-party="{device}"] [data-voice="answer"]'
        ).click()
        await expect(board.locator(f'.voice-legs li[data-party="{device}"]')).to_have_attribute(
            "data-state", "connected", timeout=10_000
        )

        # The operator adds the caregiver; the phone rings and she answers.
        await board.select_option('[data-voice="contact"]', caregiver)
        await board.click('[data-voice="dial"]')
        await app.click('[data-voice="accept"]')
        await expect(board.locator(f'.voice-legs li[data-party="{caregiver}"]')).to_have_attribute(
            "data-state", "connected", timeout=10_000
        )
        # The caregiver hears the elder's device through the operator's mix.
        host = f"operator:{operator}"
        await wait_until(lambda: heard_hz(app, host), timeout_s=10)
        levels = await heard_levels_db(app, host, [OPERATOR_HZ, DEVICE_HZ, NOBODY_HZ])
        assert levels[DEVICE_HZ] > levels[NOBODY_HZ] + 20, levels
        assert levels[OPERATOR_HZ] > levels[NOBODY_HZ] + 20, levels
        # The operator hears each of the other two on their own leg.
        await wait_until(lambda: heard_hz(board, caregiver), timeout_s=10)
        assert abs(await heard_hz(board, device) - DEVICE_HZ) < TOLERANCE_HZ
        assert abs(await heard_hz(board, caregiver) - CAREGIVER_HZ) < TOLERANCE_HZ
        await shoot_everywhere(board, "softphone-three-way", sizes=("large",))
        await asyncio.sleep(1.5)
        await board.click('[data-voice="hangup"]')
        await expect(board.locator("#softphone")).to_have_attribute("data-state", "ended")

    # The device heard both the operator and the caregiver.
    (recording,) = talking_device.recordings
    samples, rate = read_mono(recording.path)
    floor = share_near(samples[rate:], rate, NOBODY_HZ)
    assert share_near(samples[rate:], rate, OPERATOR_HZ) > 100 * floor
    assert share_near(samples[rate:], rate, CAREGIVER_HZ) > 100 * floor

    # The call's recording is kept with the alert; supervisors play it, operators may not.
    def recorded() -> VoiceCall | None:
        with server.services.db.session() as session:
            call = session.exec(select(VoiceCall)).one()
            return call if call.recording else None

    async def stored() -> VoiceCall | None:
        return await asyncio.to_thread(recorded)

    call = await wait_until(stored)
    assert call.parties == [device, caregiver]
    supervisor = await login(server.http, server.services.db, "supervisor")
    as_operator = await login(server.http, server.services.db, "operator", areas=("东城区",))
    async with httpx.AsyncClient(base_url=server.http) as http:
        played = await http.get(f"/api/v1/calls/{call.id}/recording", headers=bearer(supervisor))
        refused = await http.get(f"/api/v1/calls/{call.id}/recording", headers=bearer(as_operator))
        listed = await http.get(f"/api/v1/alerts/{call.alert_id}/calls", headers=bearer(supervisor))
        sample = await http.post("/api/v1/calls/review-sample", headers=bearer(supervisor))
        reviewed = await http.put(
            f"/api/v1/calls/{call.id}/review",
            json={"note": "calm, clear, help explained"},
            headers=bearer(supervisor),
        )
    assert played.status_code == 200
    assert refused.status_code == 403
    assert listed.json()[0]["recording"] is True
    async with httpx.AsyncClient(base_url=server.http) as http:
        card = await http.get(f"/api/v1/alerts/{call.alert_id}/card", headers=bearer(as_operator))
    assert card.json()["calls"][0]["recording"] is False  # an operator may not play it
    assert listed.json()[0]["talk_s"] > 1
    assert [c["id"] for c in sample.json()] == [str(call.id)]  # the operator's one call
    assert reviewed.json()["reviewed_by"].startswith("supervisor-")
    # Each voice stands far above a frequency nobody played (the operator's microphone
    # passes Chromium's noise suppression, which tames a steady tone, so shares vary).
    heard = _decode(played.content)
    floor = share_near(heard, 48_000, NOBODY_HZ)
    for hz in (OPERATOR_HZ, DEVICE_HZ, CAREGIVER_HZ):
        assert share_near(heard, 48_000, hz) > 100 * floor, hz


def _decode(webm: bytes) -> np.ndarray:
    """The first channel of a WebM/Opus recording at 48 kHz, as floats."""
    import av

    with av.open(io.BytesIO(webm)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48_000)
        chunks = [
            frame.to_ndarray().ravel()
            for packet_frame in container.decode(audio=0)
            for frame in resampler.resample(packet_frame)
        ]
    return np.concatenate(chunks)


async def test_a_supervisor_plays_a_calls_recording_on_the_alert_card(
    recording_bureau: Settings,
    server: RunningServer,
    city: SmallCity,
    publisher: DevicePublisher,
    tones: dict[str, Path],
) -> None:
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

    def recorded_call() -> None:
        with server.services.db.session() as session:
            alert = session.exec(select(Alert)).one()
            call = VoiceCall(
                id=uuid.uuid4(),
                alert_id=alert.id,
                host="op-earlier",
                parties=[f"device:{city.device_id}"],
                started_at=alert.raised_at,
                answered_at=alert.raised_at + timedelta(seconds=2),
                ended_at=alert.raised_at + timedelta(seconds=32),
                recording="earlier.wav",
            )
            session.add(call)
        folder = recording_bureau.voice_recordings_dir
        folder.mkdir(parents=True, exist_ok=True)
        write_tone(folder / "earlier.wav", OPERATOR_HZ, 3)

    async def alert_stored() -> bool:
        def count() -> int:
            with server.services.db.session() as session:
                return len(session.exec(select(Alert)).all())

        return await asyncio.to_thread(count) == 1

    await wait_until(alert_stored)
    await asyncio.to_thread(recorded_call)
    async with chromium_speaking(tones["operator"]) as browser:
        operator, _ = await board_page(browser, server)
        await operator.locator(".alert").first.click()
        await expect(operator.locator("#detail .calls li")).to_contain_text("0:30")
        await expect(operator.locator("[data-call-play]")).to_have_count(0)  # not for operators

        supervisor = await asyncio.to_thread(make_user, server.services.db, "supervisor")
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{server.http}/board/")
        await sign_in(page, supervisor)
        await page.locator(".alert").first.click()
        await page.click("[data-call-play]")
        player = page.locator("#detail audio.recording")
        await expect(player).to_have_count(1)
        await wait_until(lambda: player.evaluate("(a) => a.currentTime > 0.5"), timeout_s=10)
