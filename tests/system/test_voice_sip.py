"""The phone network path, with real SIP components on loopback.

Kamailio (registrar and proxy, WebSocket transport) stands in for the centre's
phone system, rtpengine bridges WebRTC and plain RTP, and baresip is the elder's
landline: it answers by itself, plays a 550 Hz tone and records what it hears.
The board's browser registers its phone line with SIP.js.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlmodel import select

from config.settings import Settings
from dispatch.store.tables import Alert, AuditRecord, Elder, VoiceCall
from simulators.audio import write_tone
from simulators.devices import DevicePublisher
from simulators.local_sip import PhoneSystem, SipPhone, phone_system, sip_available, sip_phone
from tests.conftest import RunningServer
from tests.helpers import SmallCity, seed_small_city, wait_until
from tests.system.test_voice_calls import (
    OPERATOR_HZ,
    TOLERANCE_HZ,
    board_page,
    chromium_speaking,
    heard_hz,
    recorded_hz,
    shoot_everywhere,
)

ELDER_NUMBER = "13800000001"
PHONE_HZ = 550.0

pytestmark = pytest.mark.skipif(
    not sip_available(),
    reason="kamailio, rtpengine or baresip missing (scripts/test.sh installs them)",
)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoneSystem]:
    system = phone_system(tmp_path_factory.mktemp("pbx")).start()
    yield system
    system.stop()


@pytest.fixture
def settings(settings: Settings, pbx: PhoneSystem) -> Settings:
    settings.voice_loopback_only = True
    settings.voice_sip_ws_url = pbx.ws_url
    settings.voice_sip_domain = pbx.domain
    return settings


@pytest.fixture
async def city(server: RunningServer) -> SmallCity:
    def seed() -> SmallCity:
        city = seed_small_city(server.services.db)
        with server.services.db.session() as session:
            elder = session.get(Elder, city.elder_id)
            assert elder is not None
            elder.phone = "+86 138-0000-0001"  # as a person types it
            session.add(elder)
        return city

    return await asyncio.to_thread(seed)


@pytest.fixture
async def landline(pbx: PhoneSystem, tmp_path: Path) -> AsyncIterator[SipPhone]:
    """The elder's landline: registered, answers by itself, says 550 Hz."""
    tone = write_tone(tmp_path / "landline.wav", PHONE_HZ, 30, rate_hz=8000)
    phone = sip_phone(tmp_path / "landline", pbx, ELDER_NUMBER, tone)
    await asyncio.to_thread(phone.start)

    async def registered() -> bool:
        return await asyncio.to_thread(phone.registered)

    await wait_until(registered)
    yield phone
    await asyncio.to_thread(phone.stop)


async def line_ready(board: Page) -> None:
    await expect(board.locator("#phoneline")).to_have_attribute(
        "data-state", "registered", timeout=10_000
    )


def rows(server: RunningServer) -> tuple[list[Alert], list[VoiceCall], list[AuditRecord]]:
    with server.services.db.session() as session:
        alerts = list(session.exec(select(Alert)).all())
        calls = list(session.exec(select(VoiceCall)).all())
        steps = session.exec(
            select(AuditRecord).where(AuditRecord.action.startswith("call_"))  # type: ignore[union-attr]
        ).all()
        return alerts, calls, list(steps)


async def test_a_call_from_the_elders_number_pops_the_card_and_raises_an_alert(
    server: RunningServer, city: SmallCity, landline: SipPhone, tmp_path: Path
) -> None:
    tones = {"operator": write_tone(tmp_path / "operator.wav", OPERATOR_HZ, 30)}
    async with chromium_speaking(tones["operator"]) as browser:
        board, operator = await board_page(browser, server)
        await line_ready(board)

        await asyncio.to_thread(landline.dial, f"sip:{operator}@{server.settings.voice_sip_domain}")
        line = board.locator("#phoneline")
        await expect(line).to_have_attribute("data-state", "ringing")
        # The card pops before anyone answers: who is calling, and their alert.
        await expect(board.locator("#detail h2")).to_have_text("Call from the elder's phone")
        await expect(board.locator("#detail")).to_contain_text("王秀英")
        await expect(line).to_contain_text("王秀英")
        await shoot_everywhere(board, "phone-incoming", sizes=("large",))

        await board.click('[data-phone="answer"]')
        await expect(line).to_have_attribute("data-state", "connected", timeout=15_000)
        party = f"phone:{ELDER_NUMBER}"
        await wait_until(lambda: heard_hz(board, party), timeout_s=15)
        assert abs(await heard_hz(board, party) - PHONE_HZ) < TOLERANCE_HZ
        await asyncio.sleep(1.5)
        await board.click('[data-phone="hangup"]')
        await expect(line).to_have_attribute("data-state", "ended")

    async def heard() -> list[Path]:
        return await asyncio.to_thread(landline.heard)

    (recording,) = await wait_until(heard)
    assert abs(recorded_hz(recording) - OPERATOR_HZ) < TOLERANCE_HZ

    alerts, calls, steps = await asyncio.to_thread(rows, server)
    (alert,) = alerts
    assert alert.alert_type == "phone_call"
    assert alert.elder_id == city.elder_id
    (call,) = calls
    assert call.alert_id == alert.id
    assert call.parties == [f"phone:{ELDER_NUMBER}"]
    assert call.requested_by == f"phone:{ELDER_NUMBER}"
    assert call.answered_at is not None
    assert [s.action for s in steps] == ["call_started", "call_answered", "call_ended"]


async def test_a_call_joins_the_open_alert_and_the_operator_dials_the_elder_back(
    server: RunningServer,
    city: SmallCity,
    landline: SipPhone,
    publisher: DevicePublisher,
    tmp_path: Path,
) -> None:
    operator_tone = write_tone(tmp_path / "operator.wav", OPERATOR_HZ, 30)
    async with chromium_speaking(operator_tone) as browser:
        board, operator = await board_page(browser, server)
        await line_ready(board)
        await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
        await expect(board.locator(".alert")).to_have_count(1)

        # The elder rings the centre about the press: the card of that alert pops.
        await asyncio.to_thread(landline.dial, f"sip:{operator}@{server.settings.voice_sip_domain}")
        await expect(board.locator("#phoneline")).to_have_attribute("data-state", "ringing")
        await expect(board.locator("#detail h2")).to_have_text("Help button pressed")
        await board.click('[data-phone="hangup"]')  # not now
        await expect(board.locator("#phoneline")).not_to_have_attribute("data-state", "ringing")

        # Click-to-call: the operator dials the number on the card; the landline answers.
        await expect(board.locator("#phoneline")).to_have_attribute(
            "data-state", "registered", timeout=10_000
        )
        await board.click('#detail [data-phone="dial"]')
        await expect(board.locator("#phoneline")).to_have_attribute(
            "data-state", "connected", timeout=15_000
        )
        await shoot_everywhere(board, "phone-connected", sizes=("large",))
        await board.click('[data-phone="hangup"]')
        await expect(board.locator("#phoneline")).to_have_attribute("data-state", "ended")

    alerts, calls, _ = await asyncio.to_thread(rows, server)
    assert len(alerts) == 1  # the call joined the press's alert
    incoming, outgoing = sorted(calls, key=lambda c: c.started_at)
    assert incoming.alert_id == outgoing.alert_id == alerts[0].id
    assert incoming.answered_at is None
    assert incoming.end_reason == "declined"
    assert outgoing.requested_by is None
    assert outgoing.answered_at is not None
