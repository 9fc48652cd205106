"""The bare broker round trip: the floor any MQTT-based design pays, measured in the same run."""

from __future__ import annotations

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.mqtt import BrokerAddress


def broker_round_trips(url: str, n: int, gap_s: float = 0.02) -> list[float]:
    """Milliseconds for each of ``n`` QoS 1 publishes to reach a subscriber."""
    address = BrokerAddress.parse(url)
    topic = f"bench/{uuid.uuid4().hex}"
    arrived = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda *_: arrived.set()
    sub.connect(address.host, address.port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect(address.host, address.port)
    pub.loop_start()
    time.sleep(0.5)
    samples = []
    try:
        for i in range(n):
            arrived.clear()
            start = time.perf_counter()
            pub.publish(topic, json.dumps({"event_id": str(i), "type": "press"}), qos=1)
            if not arrived.wait(5):
                raise RuntimeError("the bare round trip lost a message")
            samples.append((time.perf_counter() - start) * 1000)
            time.sleep(gap_s)
    finally:
        for client in (pub, sub):
            client.loop_stop()
            client.disconnect()
    return samples
