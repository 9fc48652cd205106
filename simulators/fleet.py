"""A fleet of devices, each a real MQTT client of the broker with its own identity.

Built on aiomqtt (asyncio over paho-mqtt), so one process holds thousands of
connections. Every device registers its last will, announces itself online,
heart-beats on its schedule, reports its position if it is a wearable, and sends
the help events the scenario asks of it, retrying over broker restarts until the
broker has acknowledged them. A device told to go silent stops checking in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    extra: Mapping[str, object] = field(default_factory=dict)  # battery, position, ...


class SimDevice:
    def __init__(
        self,
        device_id: str,
        kind: str,
        broker: BrokerAddress,
        protocol: str,
        heartbeat_every_s: float,
        rng: random.Random,
        *,
        home: tuple[float, float] | None = None,
        position_every_s: float | None = None,
    ) -> None:
        self.device_id, self.kind, self.broker = device_id, kind, broker
        self.protocol = (
            aiomqtt.ProtocolVersion.V5 if protocol == "5" else (aiomqtt.ProtocolVersion.V311)
        )
        self.heartbeat_every_s, self.rng = heartbeat_every_s, rng
        self.home = home
        # Only a wearable knows where it is.
        self.position_every_s = position_every_s if kind == "wearable" and home else None
        self.queue: asyncio.Queue[Send] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.silent = False  # stops heart-beating: supervision must notice
        self.sent_by_type: Counter[str] = Counter()

    @property
    def sent(self) -> int:
        return self.sent_by_type.total()

    def _position(self) -> dict[str, object]:
        assert self.home is not None
        lat, lon = self.home
        # Out for a walk within a few hundred metres of home.
        return {
            "position": {
                "lat": round(lat + self.rng.uniform(-0.003, 0.003), 6),
                "lon": round(lon + self.rng.uniform(-0.003, 0.003), 6),
            }
        }

    def _routine(self, now: float, due: dict[str, float]) -> tuple[Send | None, float]:
        """The routine message due by ``now`` (if any) and seconds to the next one."""
        if self.silent or not due:
            return None, 3600.0
        kind = min(due, key=due.__getitem__)
        if due[kind] > now:
            return None, due[kind] - now
        if kind == "position":
            due[kind] = now + (self.position_every_s or 0)
            return Send("position", extra=self._position()), 0.0
        due[kind] = now + self.heartbeat_every_s
        return Send("heartbeat"), 0.0

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
        now = time.monotonic()
        due = {"heartbeat": now + self.rng.uniform(0, self.heartbeat_every_s)}
        if self.position_every_s:
            due["position"] = now + self.rng.uniform(0, self.position_every_s)
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
                            routine, wait_s = self._routine(time.monotonic(), due)
                            if routine is not None:
                                send = routine
                            else:
                                try:
                                    async with asyncio.timeout(wait_s):
                                        send = await self.queue.get()
                                except TimeoutError:
                                    continue
                            event_id = uuid.uuid4().hex
                            payload = event_payload(
                                event_id, send.type, datetime.now(UTC), **send.extra
                            )
                            pending = (send, event_id, payload)
                        send, event_id, payload = pending
                        await client.publish(events_topic(self.device_id), payload, qos=1)
                        self.sent_by_type[send.type] += 1
                        if send.on_sent is not None:
                            send.on_sent(event_id)
                        pending = None
                finally:
                    self.connected.clear()
                    # Bounded: a client cancelled mid-publish may never see its
                    # DISCONNECT acknowledged, and the run must still end.
                    with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
                        async with asyncio.timeout(2.0):
                            await client.__aexit__(None, None, None)
            except (aiomqtt.MqttError, OSError) as exc:
                log.debug("device %s reconnecting: %s", self.device_id, exc)
                await asyncio.sleep(self.rng.uniform(0.5, 2.0))
