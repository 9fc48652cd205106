"""A fleet of devices, each a real MQTT client of the broker with its own identity.

Built on aiomqtt (asyncio over paho-mqtt), so one process holds thousands of
connections. Every device registers its last will, announces itself online,
heart-beats on its schedule, and sends the help events the scenario asks of it,
retrying over broker restarts until the broker has acknowledged them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiomqtt

from devices.mqtt import BrokerAddress
from devices.protocol import event_payload, events_topic, status_topic
from simulators.devices import HELP_EVENTS

log = logging.getLogger(__name__)
CONNECTS_AT_ONCE = 200  # the broker and the loop take a burst of this size well


@dataclass(frozen=True, slots=True)
class Send:
    type: str
    on_sent: Callable[[str], None] | None = None  # gets the event id once acknowledged


class SimDevice:
    def __init__(
        self,
        device_id: str,
        kind: str,
        broker: BrokerAddress,
        protocol: str,
        heartbeat_every_s: float,
        rng: random.Random,
    ) -> None:
        self.device_id, self.kind, self.broker = device_id, kind, broker
        self.protocol = (
            aiomqtt.ProtocolVersion.V5 if protocol == "5" else (aiomqtt.ProtocolVersion.V311)
        )
        self.heartbeat_every_s, self.rng = heartbeat_every_s, rng
        self.queue: asyncio.Queue[Send] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.sent = 0

    def help_event(self) -> str:
        events = HELP_EVENTS.get(self.kind, [("press", 1.0)])
        return self.rng.choices([e for e, _ in events], weights=[w for _, w in events])[0]

    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(
            status_topic(self.device_id), b'{"status":"offline"}', qos=1, retain=True
        )
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            identifier=f"dev-{self.device_id}",
            username=self.broker.username,
            password=self.broker.password,
            will=will,
            keepalive=max(60, int(self.heartbeat_every_s * 2)),
            protocol=self.protocol,
            timeout=10,
        )

    async def run(self, connect_slots: asyncio.Semaphore) -> None:
        """Stay connected and send what is queued, until cancelled."""
        # A send keeps its event id across reconnects: if the broker had it before
        # it went away, the server stores the retry once.
        pending: tuple[Send, str, bytes] | None = None
        next_beat = time.monotonic() + self.rng.uniform(0, self.heartbeat_every_s)
        while True:
            try:
                async with connect_slots:
                    client = self._client()
                    await client.__aenter__()
                try:
                    self.connected.set()
                    await client.publish(
                        status_topic(self.device_id), b'{"status":"online"}', qos=1, retain=True
                    )
                    while True:
                        if pending is None:
                            wait_s = max(0.0, next_beat - time.monotonic())
                            try:
                                send = await asyncio.wait_for(self.queue.get(), wait_s)
                            except TimeoutError:
                                send = Send("heartbeat")
                                next_beat = time.monotonic() + self.heartbeat_every_s
                            event_id = uuid.uuid4().hex
                            payload = event_payload(event_id, send.type, datetime.now(UTC))
                            pending = (send, event_id, payload)
                        send, event_id, payload = pending
                        await client.publish(events_topic(self.device_id), payload, qos=1)
                        self.sent += 1
                        if send.on_sent is not None:
                            send.on_sent(event_id)
                        pending = None
                finally:
                    self.connected.clear()
                    # Bounded: a client cancelled mid-publish may never see its
                    # DISCONNECT acknowledged, and the run must still end.
                    with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
                        await asyncio.wait_for(client.__aexit__(None, None, None), 2.0)
            except (aiomqtt.MqttError, OSError) as exc:
                log.debug("device %s reconnecting: %s", self.device_id, exc)
                await asyncio.sleep(self.rng.uniform(0.5, 2.0))
