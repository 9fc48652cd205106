"""A simulated device that talks: a real WebRTC peer on the device voice topics.

It does what a one-key call terminal does on a call from the centre: answers at
once, hands-free, plays its elder's voice (a recorded file) into the call and
records what the centre says (one WAV per call). Media is aiortc's WebRTC stack;
signalling is MQTT (devices/protocol.py: voice/down in, voice/up out).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aioice.ice
import aiomqtt
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer, MediaRecorder
from aiortc.mediastreams import MediaStreamTrack

from devices.mqtt import BrokerAddress
from devices.protocol import (
    TOPIC_ROOT,
    VoiceDownPayload,
    parse_voice_down,
    voice_up_topic,
)
from dispatch.errors import PayloadError
from dispatch.voice.capability import VoiceCatalog
from simulators.audio import write_tone, write_voice

log = logging.getLogger(__name__)


def keep_to_loopback() -> None:
    """Offer only 127.0.0.1 as this process's ICE host address.

    aioice leaves the loopback interface out of its host candidates, which is
    right on a network and wrong on one machine where the browser and the
    simulated device must meet without leaving the host (tests, the local demo).
    """
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def loopback_candidates_only(sdp: str) -> str:
    """The SDP without ICE candidates outside 127.0.0.1 (so no check leaves the host)."""
    lines = sdp.split("\r\n")
    kept = [ln for ln in lines if not ln.startswith("a=candidate:") or " 127.0.0.1 " in ln]
    return "\r\n".join(kept)


@dataclass
class VoicePeer:
    """One call's media on the device: answer an offer, play a file, record what is heard."""

    voice_file: Path
    record_to: Path
    ice_servers: tuple[str, ...] = ()
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        config = RTCConfiguration([RTCIceServer(url) for url in self.ice_servers])
        self._pc = RTCPeerConnection(config)
        self._player = MediaPlayer(str(self.voice_file), loop=True)
        self._recorder = MediaRecorder(str(self.record_to))
        self._pc.on("track", self._on_track)
        self._pc.on("connectionstatechange", self._on_state)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._recorder.addTrack(track)

    async def _on_state(self) -> None:
        state = self._pc.connectionState
        log.info("voice peer %s: %s", self.record_to.name, state)
        if state == "connected":
            self.connected.set()
        elif state in ("failed", "closed"):
            self.ended.set()

    async def answer(self, offer_sdp: str) -> str:
        """Take the centre's offer; return the answer SDP (candidates included)."""
        audio = self._player.audio
        if audio is None:
            raise ValueError(f"{self.voice_file} has no audio")
        self._pc.addTrack(audio)
        await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        await self._recorder.start()
        return self._pc.localDescription.sdp

    def hold(self, on: bool) -> None:
        """Held: the centre hears nothing (the player pauses its track's output)."""
        for sender in self._pc.getSenders():
            if sender.track is not None:
                sender.track.enabled = not on  # type: ignore[attr-defined]

    async def close(self) -> None:
        self.ended.set()
        with contextlib.suppress(Exception):  # the recorder may never have had a frame
            await self._recorder.stop()
        await self._pc.close()
        if self._player.audio is not None:
            self._player.audio.stop()


@dataclass
class Recording:
    call_id: str
    device_id: str
    path: Path
    connected: bool = False


class VoiceDevice:
    """Simulated talking devices on one MQTT connection; run() until cancelled."""

    def __init__(
        self,
        mqtt_url: str,
        device_ids: Iterable[str],
        *,
        voice_file: Path,
        record_dir: Path,
        loopback_only: bool = False,
        ice_servers: tuple[str, ...] = (),
        client_id: str | None = None,
    ) -> None:
        self.address = BrokerAddress.parse(mqtt_url)
        self.device_ids = tuple(device_ids)
        self.voice_file = voice_file
        self.record_dir = record_dir
        self.loopback_only = loopback_only
        self.ice_servers = ice_servers
        self.client_id = client_id or f"carebell-voice-{uuid.uuid4().hex[:8]}"
        self.peers: dict[str, VoicePeer] = {}
        self.recordings: list[Recording] = []
        self.ready = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._watchers: set[asyncio.Task[None]] = set()  # held until done
        if loopback_only:
            keep_to_loopback()

    async def run(self) -> None:
        self.record_dir.mkdir(parents=True, exist_ok=True)
        async with aiomqtt.Client(
            self.address.host,
            self.address.port,
            username=self.address.username,
            password=self.address.password,
            identifier=self.client_id,
        ) as client:
            self._client = client
            # One wildcard for a whole city; only our devices' messages are taken.
            await client.subscribe(f"{TOPIC_ROOT}/+/voice/down", qos=1)
            ours = set(self.device_ids)
            self.ready.set()
            try:
                async for message in client.messages:
                    device_id = str(message.topic).split("/")[3]
                    if device_id not in ours:
                        continue
                    payload = message.payload
                    if isinstance(payload, bytes | bytearray):
                        await self._receive(device_id, bytes(payload))
            finally:
                self._client = None
                for peer in list(self.peers.values()):
                    await peer.close()

    async def _receive(self, device_id: str, payload: bytes) -> None:
        try:
            message = parse_voice_down(payload)
        except PayloadError as exc:
            log.warning("device %s: voice message refused: %s", device_id, exc)
            return
        match message.type:
            case "offer":
                await self._answer(device_id, message)
            case "hold":
                if peer := self.peers.get(message.call_id):
                    peer.hold(bool(message.on))
            case "hangup":
                if peer := self.peers.pop(message.call_id, None):
                    await peer.close()

    async def _answer(self, device_id: str, offer: VoiceDownPayload) -> None:
        if self.peers:
            await self._send(device_id, offer.call_id, "busy")  # one call at a time
            return
        path = self.record_dir / f"{device_id}-{offer.call_id}.wav"
        peer = VoicePeer(self.voice_file, path, self.ice_servers)
        recording = Recording(offer.call_id, device_id, path)
        self.recordings.append(recording)
        self.peers[offer.call_id] = peer
        sdp = offer.sdp or ""
        answer = await peer.answer(loopback_candidates_only(sdp) if self.loopback_only else sdp)
        await self._send(device_id, offer.call_id, "answer", sdp=answer)
        watcher = asyncio.get_running_loop().create_task(self._watch(recording, peer))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, recording: Recording, peer: VoicePeer) -> None:
        connected = asyncio.ensure_future(peer.connected.wait())
        ended = asyncio.ensure_future(peer.ended.wait())
        await asyncio.wait({connected, ended}, return_when=asyncio.FIRST_COMPLETED)
        recording.connected = peer.connected.is_set()
        connected.cancel()
        await ended
        if self.peers.pop(recording.call_id, None) is not None:
            # The media dropped without a hang-up from the centre: say so.
            await peer.close()
            await self._send(recording.device_id, recording.call_id, "hangup")

    async def hang_up(self, call_id: str) -> None:
        """The elder ends the call (presses the button again)."""
        peer = self.peers.pop(call_id, None)
        if peer is None:
            return
        recording = next(r for r in self.recordings if r.call_id == call_id)
        await peer.close()
        await self._send(recording.device_id, call_id, "hangup")

    async def _send(self, device_id: str, call_id: str, type_: str, sdp: str | None = None) -> None:
        if self._client is None:
            return
        body = {"type": type_, "call_id": call_id, "ts": datetime.now(UTC).isoformat()}
        if sdp is not None:
            body["sdp"] = sdp
        await self._client.publish(voice_up_topic(device_id), json.dumps(body), qos=1)


ELDER_SAYS = "喂，我是王阿姨，我摔倒了，起不来，请帮帮我。"


async def talk_for_the_city(
    mqtt_url: str,
    devices: Iterable[tuple[str, str]],
    voices: VoiceCatalog,
    folder: Path,
    *,
    loopback_only: bool = False,
) -> None:
    """The demo's elders: every device of a kind that talks answers the centre's calls
    with a recorded voice (espeak-ng where installed, else a 440 Hz tone). Runs until
    cancelled; what each device heard is kept in ``folder``."""
    voice = await asyncio.to_thread(_elder_voice, folder)
    talking = [device_id for device_id, kind in devices if voices.of(kind).talks]
    log.info("%d simulated devices answer voice calls", len(talking))
    device = VoiceDevice(
        mqtt_url,
        talking,
        voice_file=voice,
        record_dir=folder / "heard",
        loopback_only=loopback_only,
    )
    await device.run()


def _elder_voice(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "elder.wav"
    return write_voice(path, ELDER_SAYS) or write_tone(path, 440.0, 10.0)
