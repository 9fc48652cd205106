"""Voice signalling with devices over MQTT: the voice/up reader and voice/down writer.

Every API process subscribes to every device's voice/up (a plain subscription,
not the gateway's shared one): the process hosting a call is the one whose
operator's socket holds it, and the others drop what they do not host. Voice
signalling is live or worthless, so there is no persistent session to replay.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

import aiomqtt

from devices.errors import DeviceUnreachable, PayloadError
from devices.mqtt import BrokerAddress
from devices.protocol import (
    VOICE_UP_FILTER,
    VoiceSignal,
    parse_voice_up,
    voice_device_of,
    voice_down_topic,
)
from devices.tls import client_context

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 5.0
RECONNECT_S = (0.5, 10.0)  # first wait, longest wait


class MqttVoiceLink:
    def __init__(
        self,
        mqtt_url: str,
        handler: Callable[[VoiceSignal], Awaitable[None]],
        *,
        client_id: str | None = None,
    ) -> None:
        self.address = BrokerAddress.parse(mqtt_url)
        self.handler = handler
        self.client_id = client_id or f"carebell-voice-{uuid.uuid4().hex[:8]}"
        self._client: aiomqtt.Client | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Read voice/up until cancelled, reconnecting with backoff."""
        wait_s = RECONNECT_S[0]
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                log.warning("voice link to the broker lost (%s); again in %.1f s", exc, wait_s)
            self.ready.clear()
            self._client = None
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, RECONNECT_S[1])

    async def _session(self) -> None:
        async with aiomqtt.Client(
            self.address.host,
            self.address.port,
            username=self.address.username,
            password=self.address.password,
            tls_context=client_context(self.address),
            identifier=self.client_id,
            timeout=SEND_TIMEOUT_S,
        ) as client:
            await client.subscribe(VOICE_UP_FILTER, qos=1)
            self._client = client
            self.ready.set()
            async for message in client.messages:
                payload = message.payload
                if not isinstance(payload, bytes | bytearray):
                    continue
                try:
                    device_id = voice_device_of(str(message.topic))
                    signal = parse_voice_up(device_id, bytes(payload))
                except PayloadError as exc:
                    log.warning("voice message on %s refused: %s", message.topic, exc)
                    continue
                await self.handler(signal)

    async def send(self, device_id: str, payload: bytes) -> None:
        client = self._client
        if client is None:
            raise DeviceUnreachable(device_id, "no broker connection")
        try:
            await client.publish(voice_down_topic(device_id), payload, qos=1)
        except aiomqtt.MqttError as exc:
            raise DeviceUnreachable(device_id, str(exc)) from exc
