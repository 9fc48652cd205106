"""Voice signalling through the server, without a browser: the board's side is an
aiortc peer on a real board socket, the device is the simulator on the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from sqlmodel import select

from config.settings import Settings
from dispatch.store.tables import Device, VoiceCall
from simulators.audio import write_tone
from simulators.devices import DevicePublisher
from simulators.voice_device import VoiceDevice, keep_to_loopback
from tests.conftest import RunningServer
from tests.helpers import LiveClient, SmallCity, login, seed_small_city, wait_until


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.voice_loopback_only = True
    settings.voice_ring_timeout_s = 1.0
    return settings


@pytest.fixture
async def city(server: RunningServer) -> SmallCity:
    return await asyncio.to_thread(seed_small_city, server.services.db)


@pytest.fixture
async def board(server: RunningServer, city: SmallCity) -> AsyncIterator[LiveClient]:
    token = await login(server.http, server.services.db, "operator", areas=("东城区",))
    client = await LiveClient.connect(f"{server.ws}/ws/v1/board", token)
    yield client
    await client.close()


@pytest.fixture
async def device(settings: Settings, city: SmallCity, tmp_path: Path) -> AsyncIterator[VoiceDevice]:
    simulator = VoiceDevice(
        settings.mqtt_url,
        [city.device_id],
        voice_file=write_tone(tmp_path / "device.wav", 660, 10),
        record_dir=tmp_path / "heard",
        loopback_only=True,
    )
    task = asyncio.create_task(simulator.run())
    await asyncio.wait_for(simulator.ready.wait(), 10)
    yield simulator
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def offer(tmp_path: Path) -> tuple[RTCPeerConnection, str]:
    """What the board's browser does: an offer with the operator's voice."""
    keep_to_loopback()
    pc = RTCPeerConnection()
    pc.addTrack(MediaPlayer(str(write_tone(tmp_path / "operator.wav", 440, 10))).audio)
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def calls(server: RunningServer) -> list[VoiceCall]:
    with server.services.db.session() as session:
        return list(session.exec(select(VoiceCall)).all())


async def test_the_board_and_the_device_exchange_offer_and_answer_and_the_call_is_kept(
    server: RunningServer,
    city: SmallCity,
    board: LiveClient,
    device: VoiceDevice,
    tmp_path: Path,
) -> None:
    pc, sdp = await offer(tmp_path)
    call_id, party = str(uuid.uuid4()), f"device:{city.device_id}"
    await board.send(type="voice.dial", call_id=call_id, to=party, sdp=sdp)
    answer = await board.next("voice.answer", call_id=call_id)
    assert answer["party"] == party
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def connected() -> bool:
        return pc.connectionState == "connected"

    await wait_until(connected)
    await board.send(type="voice.connected", call_id=call_id, party=party)
    view = await board.next("voice.call", call_id=call_id, state="connected")
    assert view["answered_at"] is not None
    await board.send(type="voice.hangup", call_id=call_id)
    await board.next("voice.call", call_id=call_id, state="ended")
    await pc.close()

    async def device_hung_up() -> bool:
        return not device.peers

    await wait_until(device_hung_up)
    (call,) = await asyncio.to_thread(calls, server)
    assert call.parties == [party]
    assert call.answered_at is not None
    assert call.end_reason == "hung_up"


async def test_a_door_bell_cannot_talk_and_is_never_called(
    server: RunningServer, city: SmallCity, board: LiveClient, tmp_path: Path
) -> None:
    def add_bell() -> None:
        with server.services.db.session() as session:
            session.add(Device(id="db-silent", kind="door_bell", elder_id=city.elder_id))

    await asyncio.to_thread(add_bell)
    pc, sdp = await offer(tmp_path)
    call_id = str(uuid.uuid4())
    await board.send(type="voice.dial", call_id=call_id, to="device:db-silent", sdp=sdp)
    refused = await board.next("voice.hangup", call_id=call_id)
    assert refused["reason"] == "cannot_talk"
    await pc.close()
    assert await asyncio.to_thread(calls, server) == []


async def test_a_device_that_never_answers_is_unavailable_after_the_ring_timeout(
    server: RunningServer, city: SmallCity, board: LiveClient, tmp_path: Path
) -> None:
    pc, sdp = await offer(tmp_path)  # no simulator listens for this device
    call_id = str(uuid.uuid4())
    await board.send(type="voice.dial", call_id=call_id, to=f"device:{city.device_id}", sdp=sdp)
    await board.next("voice.call", call_id=call_id, state="ended")
    await pc.close()
    (call,) = await asyncio.to_thread(calls, server)
    assert call.end_reason == "unavailable"
    assert call.answered_at is None


async def test_a_wrong_voice_message_gets_an_error_and_the_socket_stays(
    server: RunningServer, city: SmallCity, board: LiveClient
) -> None:
    await board.send(type="voice.hangup", call_id=str(uuid.uuid4()))
    error = await board.next("voice.error")
    assert error["code"] == "refused"
    await board.send(type="voice.dial", call_id="not-a-uuid", to="device:x", sdp="v=0")
    await board.next("voice.error")
    await board.send(type="voice.dial", call_id=str(uuid.uuid4()), to="phone:120", sdp="v=0")
    error = await board.next("voice.error")
    assert "phone system" in error["message"]
    # Still connected: a caregiver's tap reaches this board.
    token = await login(server.http, server.services.db, "caregiver", caregiver_id=city.near_id)
    app = await LiveClient.connect(f"{server.ws}/ws/v1/caregivers/{city.near_id}", token)
    await app.send(type="voice.request")
    waiting = await board.next("voice.waiting", timeout_s=5)
    assert [w["party"] for w in waiting["waiting"]] == [f"caregiver:{city.near_id}"]
    await app.send(type="voice.dial", call_id=str(uuid.uuid4()), to="device:x", sdp="v=0")
    assert "only an operator" in (await app.next("voice.error"))["message"]
    await app.close()
    # The caregiver's socket closed: she no longer waits.
    assert (await board.next("voice.waiting", timeout_s=5))["waiting"] == []


async def test_a_press_waits_to_talk_only_on_the_boards_of_its_area(
    server: RunningServer, city: SmallCity, board: LiveClient, publisher: DevicePublisher
) -> None:
    token = await login(server.http, server.services.db, "operator", areas=("西城区",))
    west = await LiveClient.connect(f"{server.ws}/ws/v1/board", token)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    waiting = await board.next("voice.waiting")  # the 东城区 operator's board
    (caller,) = waiting["waiting"]
    assert caller["party"] == f"device:{city.device_id}"
    assert caller["name"] == "王秀英"
    assert caller["alert_type"] == "help_button"
    with pytest.raises(TimeoutError):
        await west.next("voice.waiting", timeout_s=1.0)
    # A board that connects later is told who already waits.
    late = await LiveClient.connect(
        f"{server.ws}/ws/v1/board",
        await login(server.http, server.services.db, "operator", areas=("东城区",)),
    )
    assert (await late.next("voice.waiting"))["waiting"][0]["party"] == caller["party"]
    await late.close()
    await west.close()
