"""Device simulator: elders pressing buttons, over a real MQTT connection.

One paho client publishes on behalf of the simulated devices (issue-sized load
tests give each device its own client). Events follow devices/protocol.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.errors import PayloadError
from devices.mqtt import BrokerAddress
from devices.protocol import event_payload, events_topic, parse_received, received_topic
from devices.tls import client_context

log = logging.getLogger(__name__)

# What each kind of device sends when its elder needs help.
HELP_EVENTS: dict[str, Sequence[tuple[str, float]]] = {
    "panic_button": [("press", 1.0)],
    "door_bell": [("press", 1.0)],
    "wearable": [("sos", 0.7), ("fall", 0.3)],
}


class DevicePublisher:
    """Publishes device events at QoS 1, as devices do: each event is kept until
    CareBell says it is stored (its ``received`` topic), and sent again, with the
    same event id, after ``resend_after_s`` or when the connection comes back.
    The broker's PUBACK only says the broker has it; a broker that dies before
    it saves, or a server away, can still lose it."""

    def __init__(
        self,
        mqtt_url: str,
        protocol: str = "5",
        client_id: str | None = None,
        *,
        resend_after_s: float = 10.0,
    ) -> None:
        self.address = BrokerAddress.parse(mqtt_url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"carebell-sim-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311,
        )
        if self.address.username:
            self.client.username_pw_set(self.address.username, self.address.password)
        if (context := client_context(self.address)) is not None:
            self.client.tls_set_context(context)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.max_inflight_messages_set(1000)  # paho keys in-flight messages by a 16-bit id
        self.resend_after_s = resend_after_s
        self._lock = threading.Lock()
        # (device id, event id) -> (payload, when last sent): not yet heard as stored
        self._unconfirmed: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._devices: set[str] = set()  # whose receipts this client listens for
        self.resent = 0  # events sent again (a timeout or a reconnect)
        self._connected = threading.Event()
        self._closing = threading.Event()
        self._resender: threading.Thread | None = None
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    @property
    def unconfirmed(self) -> int:
        """Events sent that CareBell has not yet said it stored."""
        with self._lock:
            return len(self._unconfirmed)

    def connect(self, timeout_s: float = 10.0) -> None:
        self.client.connect(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            raise ConnectionError(f"no CONNACK from {self.address.host}:{self.address.port}")
        self._resender = threading.Thread(target=self._resend_late, daemon=True)
        self._resender.start()

    def publish_event(
        self, device_id: str, type_: str, event_id: str | None = None, **extra: object
    ) -> str:
        """Publish one event (QoS 1) and return its event id once the broker has it
        (or, the broker away, once it is kept to be sent again)."""
        event_id = event_id or uuid.uuid4().hex
        payload = event_payload(event_id, type_, datetime.now(UTC), **extra)
        self._listen_for(device_id)
        with self._lock:
            self._unconfirmed[(device_id, event_id)] = (payload, time.monotonic())
        info = self.client.publish(events_topic(device_id), payload, qos=1)
        try:
            info.wait_for_publish(timeout=10)
        except (RuntimeError, ValueError):
            log.info("broker away: %s of %s is sent again later", event_id, device_id)
        return event_id

    def close(self) -> None:
        self._closing.set()
        self.client.disconnect()
        self.client.loop_stop()

    def _listen_for(self, device_id: str) -> None:
        with self._lock:
            if device_id in self._devices:
                return
            self._devices.add(device_id)
        self.client.subscribe(received_topic(device_id), qos=1)

    def _send_again(self, keys: list[tuple[str, str]]) -> None:
        now = time.monotonic()
        for device_id, event_id in keys:
            with self._lock:
                held = self._unconfirmed.get((device_id, event_id))
                if held is None:
                    continue
                self._unconfirmed[(device_id, event_id)] = (held[0], now)
            self.client.publish(events_topic(device_id), held[0], qos=1)
            self.resent += 1

    def _resend_late(self) -> None:
        while not self._closing.wait(min(1.0, self.resend_after_s / 2)):
            if not self.client.is_connected():
                continue  # the reconnect sends everything again
            due = time.monotonic() - self.resend_after_s
            with self._lock:
                late = [key for key, (_, sent) in self._unconfirmed.items() if sent <= due]
            self._send_again(late)

    # -- paho callbacks, on paho's network thread --

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        with self._lock:
            devices = list(self._devices)
            keys = list(self._unconfirmed)
        if devices:  # a broker that lost its state lost our subscriptions too
            client.subscribe([(received_topic(d), 1) for d in devices])
        if self._connected.is_set():
            self._send_again(keys)  # a reconnect: what was not confirmed, again
        self._connected.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        device_id = msg.topic.split("/")[3]
        try:
            event_ids = parse_received(bytes(msg.payload))
        except PayloadError:
            log.warning("an unreadable receipt on %s", msg.topic[:200])
            return
        with self._lock:
            for event_id in event_ids:
                self._unconfirmed.pop((device_id, event_id), None)


async def press_now_and_then(
    publisher: DevicePublisher,
    devices: Sequence[tuple[str, str]],
    *,
    mean_interval_s: float,
    rng: random.Random,
) -> None:
    """Forever: wait an exponential time, pick a device, send its help event."""
    while True:
        await asyncio.sleep(rng.expovariate(1.0 / mean_interval_s))
        device_id, kind = rng.choice(devices)
        events = HELP_EVENTS.get(kind, [("press", 1.0)])
        type_ = rng.choices([e for e, _ in events], weights=[w for _, w in events])[0]
        await asyncio.to_thread(publisher.publish_event, device_id, type_)
        log.info("simulated %s on %s", type_, device_id)
