"""Device simulator: elders pressing buttons, over a real MQTT connection.

One paho client publishes on behalf of the simulated devices (issue-sized load
tests give each device its own client). Events follow devices/protocol.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.mqtt import BrokerAddress
from devices.protocol import event_payload, events_topic

log = logging.getLogger(__name__)

# What each kind of device sends when its elder needs help.
HELP_EVENTS: dict[str, Sequence[tuple[str, float]]] = {
    "panic_button": [("press", 1.0)],
    "door_bell": [("press", 1.0)],
    "wearable": [("sos", 0.7), ("fall", 0.3)],
}


class DevicePublisher:
    """Publishes device events at QoS 1 and waits for the broker's PUBACK."""

    def __init__(self, mqtt_url: str, protocol: str = "5", client_id: str | None = None) -> None:
        self.address = BrokerAddress.parse(mqtt_url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"carebell-sim-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311,
        )
        if self.address.username:
            self.client.username_pw_set(self.address.username, self.address.password)
        self._connected = threading.Event()
        self.client.on_connect = lambda *_args: self._connected.set()

    def connect(self, timeout_s: float = 10.0) -> None:
        self.client.connect(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            raise ConnectionError(f"no CONNACK from {self.address.host}:{self.address.port}")

    def publish_event(
        self, device_id: str, type_: str, event_id: str | None = None, **extra: object
    ) -> str:
        """Publish one event (QoS 1) and return its event id once the broker has it."""
        event_id = event_id or uuid.uuid4().hex
        payload = event_payload(event_id, type_, datetime.now(UTC), **extra)
        info = self.client.publish(events_topic(device_id), payload, qos=1)
        info.wait_for_publish(timeout=10)
        return event_id

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


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
