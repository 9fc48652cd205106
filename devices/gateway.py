"""The MQTT gateway: the only server module that talks to paho-mqtt.

QoS 1 with a persistent session and manual acknowledgement: a message is
acknowledged to the broker only after the handler has committed it, so a crash
between receipt and commit makes the broker deliver it again (and the event id
makes the second delivery a no-op). Paho's network thread only enqueues; batches
are handled on the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices.errors import BrokerUnavailable
from devices.fair_share import DEFAULT_BURST, DEFAULT_RATE_PER_S, FairShare
from devices.mqtt import BrokerAddress
from devices.protocol import (
    EVENTS_FILTER,
    MAX_RECEIVED_IDS,
    STATUS_FILTER,
    received_payload,
    received_topic,
)
from devices.tls import client_context

log = logging.getLogger(__name__)

# Stores a batch; answers the positions of the messages it could not store for a
# fault of its own (held: not acknowledged, handed over again), or None: all stored.
Handler = Callable[[list[tuple[str, bytes]]], Awaitable[Collection[int] | None]]
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 10.0  # a failed batch is tried again after these
SESSION_TAKEN_OVER = 142  # MQTT 5 DISCONNECT reason: a client with our id connected
SHORT_LIVED_S, SHORT_LIVED_BEFORE_ERROR = 10.0, 3  # connections closed this soon, in a row
ONE_ID_PER_PROCESS = (
    "Each process needs its own client id: set CAREBELL_REPLICA (0, 1, 2, ...) or"
    " CAREBELL_MQTT_CLIENT_ID differently per process."
)


@dataclass(frozen=True, slots=True)
class _Received:
    connection: int  # message ids are only valid on the connection that delivered them
    mid: int
    qos: int
    topic: str
    payload: bytes


def _device_of(message: _Received) -> str:
    """The device a message came from by its topic ("" if the topic is not a device's:
    refused downstream)."""
    parts = message.topic.split("/")
    return parts[3] if len(parts) == 5 else ""


class MqttGateway:
    def __init__(
        self,
        url: str,
        *,
        handler: Handler,
        client_id: str = "carebell-gateway",
        protocol: str = "5",
        session_expiry_s: int = 7 * 24 * 3600,
        share_group: str = "",
        max_batch: int = 500,
        receive_maximum: int = 1000,
        connect_timeout_s: float = 10.0,
        batches_in_flight: int = 1,
        device_burst: int = DEFAULT_BURST,
        device_rate_per_s: float = DEFAULT_RATE_PER_S,
    ) -> None:
        self.address = BrokerAddress.parse(url)
        self.handler = handler
        self.client_id = client_id
        self._connected_at = time.monotonic()
        self._short_lived = 0  # connections in a row the broker closed soon after opening
        self.max_batch = max_batch
        # More than one only when the handler stores batches in arrival order (one
        # helper process): the next batch is handed over while the last commits.
        self.batches_in_flight = batches_in_flight
        self.connect_timeout_s = connect_timeout_s
        self._v5 = protocol == "5"
        self._share_group = share_group if self._v5 else ""
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        # Filled by paho's thread, drained by the event loop; the loop is woken once
        # per burst, not once per message.
        self._inbox: collections.deque[_Received] = collections.deque()
        # A flood from one device waits behind the others' messages, not before them.
        self._fair_share: FairShare[_Received] = FairShare(
            _device_of, burst=device_burst, rate_per_s=device_rate_per_s
        )
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._connection = 0
        self._connected = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failing_since: float | None = None  # monotonic time storing began to fail
        self._storing = 0  # messages handed to the handler, not yet acknowledged
        self._failing = 0  # batches being tried again
        if self._v5:
            self.client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
            )
        else:
            self.client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=client_id,
                protocol=mqtt.MQTTv311,
                clean_session=False,
                manual_ack=True,
            )
        if self.address.username:
            self.client.username_pw_set(self.address.username, self.address.password)
        if (context := client_context(self.address)) is not None:
            self.client.tls_set_context(context)
        self.client.max_inflight_messages_set(receive_maximum)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @property
    def is_connected(self) -> bool:
        return bool(self.client.is_connected())

    @property
    def backlog(self) -> int:
        """Messages taken from the broker and not yet stored: how far behind it is."""
        return len(self._inbox) + self._storing

    @property
    def filters(self) -> list[str]:
        prefix = f"$share/{self._share_group}/" if self._share_group else ""
        return [prefix + EVENTS_FILTER, prefix + STATUS_FILTER]

    async def start(self) -> None:
        """Connect and subscribe; raise BrokerUnavailable if that fails in time."""
        self._loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {"keepalive": 30}
        if self._v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self._session_expiry_s
            props.ReceiveMaximum = self._receive_maximum
            kwargs.update(clean_start=False, properties=props)
        try:
            await asyncio.to_thread(
                self.client.connect, self.address.host, self.address.port, **kwargs
            )
        except OSError as exc:
            raise BrokerUnavailable(self.address, str(exc)) from exc
        self.client.loop_start()
        try:
            await asyncio.wait_for(self._connected.wait(), self.connect_timeout_s)
        except TimeoutError as exc:
            self.client.loop_stop()
            raise BrokerUnavailable(self.address, "no CONNACK in time") from exc

    async def run(self) -> None:
        """Hand batches to the handler and acknowledge each once it returns."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                self._wake_pending = False
                while self._inbox:
                    batch = self._fair_share.take(self._inbox, self.max_batch, time.monotonic())
                    in_flight.add(asyncio.create_task(self._store(batch)))
                    if len(in_flight) >= self.batches_in_flight:
                        done, in_flight = await asyncio.wait(
                            in_flight, return_when=asyncio.FIRST_COMPLETED
                        )
                        for task in done:
                            task.result()
        finally:
            for task in in_flight:
                task.cancel()

    async def _store(self, batch: list[_Received]) -> None:
        """Hand a batch to the handler and acknowledge each message once it is stored.

        A batch the handler fails on (the database away) is handed over again, less
        often the longer it fails, and stays unacknowledged until it is stored; so do
        the messages the handler holds (a fault of the server's with them), while the
        rest of their batch is acknowledged.
        """
        pending = batch
        self._storing += len(batch)
        delay_s, failed = RETRY_FIRST_S, False
        try:
            while True:
                try:
                    held = await self.handler([(m.topic, m.payload) for m in pending])
                except Exception:
                    log.exception(
                        "storing %d messages failed; again in %.1f s", len(pending), delay_s
                    )
                else:
                    kept = set(held or ())
                    self._ack([m for i, m in enumerate(pending) if i not in kept])
                    self._storing -= len(pending) - len(kept)
                    pending = [m for i, m in enumerate(pending) if i in kept]
                    if not pending:
                        break
                    log.error(
                        "%d messages held for a fault of the server's (not acknowledged);"
                        " again in %.1f s",
                        len(pending),
                        delay_s,
                    )
                if not failed:
                    failed = True
                    self._failing += 1
                    self.failing_since = self.failing_since or time.monotonic()
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)
        finally:
            self._storing -= len(pending)
            if failed:
                self._failing -= 1
                if not self._failing:  # every failing batch is stored (or given up)
                    self.failing_since = None

    def _ack(self, stored: list[_Received]) -> None:
        for message in stored:
            # A message from an earlier connection cannot be acked on this
            # one: the broker redelivers it and the event id dedupes it.
            if message.qos > 0 and message.connection == self._connection:
                self.client.ack(message.mid, message.qos)

    async def publish(self, topic: str, payload: bytes, timeout_s: float = 10.0) -> None:
        """Publish at QoS 1 and return once the broker has it (raise if it does not)."""
        await self.publish_all([(topic, payload)], timeout_s)

    async def publish_all(
        self, messages: Sequence[tuple[str, bytes]], timeout_s: float = 10.0
    ) -> None:
        """Publish each (topic, payload) at QoS 1, all at once, and return once the
        broker has every one (raise if it does not). One wait for the lot: a wait
        each, one after another, cost a round trip and a thread hop per message."""
        if not messages:
            return
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in messages]

        def wait() -> None:
            until = time.monotonic() + timeout_s
            for info in infos:
                info.wait_for_publish(max(0.001, until - time.monotonic()))

        try:
            await asyncio.to_thread(wait)
        except RuntimeError as exc:  # paho: not connected (the broker is restarting)
            raise BrokerUnavailable(self.address, str(exc)) from exc
        missing = [
            t for (t, _), info in zip(messages, infos, strict=True) if not info.is_published()
        ]
        if missing:
            raise BrokerUnavailable(
                self.address,
                f"no PUBACK for {len(missing)} of {len(messages)} messages in {timeout_s} s"
                f" (first: {missing[0]})",
            )

    def tell_received(self, events: list[tuple[str, str]]) -> None:
        """Tell each device which of its events are committed, one QoS 1 message per
        device (not waiting: a receipt that is lost only makes the device send the
        event again, and the event id makes that a duplicate)."""
        by_device: dict[str, dict[str, None]] = {}  # ordered, each id once
        for device_id, event_id in events:
            by_device.setdefault(device_id, {})[event_id] = None
        now = datetime.now(UTC)
        for device_id, unique in by_device.items():
            ids = list(unique)
            for start in range(0, len(ids), MAX_RECEIVED_IDS):
                payload = received_payload(ids[start : start + MAX_RECEIVED_IDS], now)
                self.client.publish(received_topic(device_id), payload, qos=1)

    async def stop(self) -> None:
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    # -- paho callbacks, on paho's network thread -------------------------------

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _properties: Any
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the gateway: %s", reason_code)
            return
        self._connection += 1
        self._connected_at = time.monotonic()
        if self._v5:
            client.subscribe([(f, SubscribeOptions(qos=1)) for f in self.filters])
        else:
            client.subscribe([(f, 1) for f in self.filters])
        log.info(
            "gateway connected to %s:%s, subscribed to %s",
            self.address.host,
            self.address.port,
            self.filters,
        )
        self._call_soon(self._connected.set)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _properties: Any
    ) -> None:
        lasted_s = time.monotonic() - self._connected_at
        self._short_lived = self._short_lived + 1 if lasted_s < SHORT_LIVED_S else 0
        if getattr(reason_code, "value", None) == SESSION_TAKEN_OVER:
            log.error(
                "the broker gave this gateway's session (client id %r) to another connection"
                " with the same id. %s",
                self.client_id,
                ONE_ID_PER_PROCESS,
            )
        elif self._short_lived >= SHORT_LIVED_BEFORE_ERROR:
            # Mosquitto 2.0 closes a taken-over session without saying why (no 142):
            # the two owners of one id then knock each other off, again and again.
            log.error(
                "the broker closed this gateway's connection %d times within %.0f s of opening"
                " it: most often another process uses the same client id %r. %s",
                self._short_lived,
                SHORT_LIVED_S,
                self.client_id,
                ONE_ID_PER_PROCESS,
            )
        else:
            log.warning("gateway disconnected from broker: %s", reason_code)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.append(
            _Received(self._connection, msg.mid, msg.qos, msg.topic, bytes(msg.payload))
        )
        if not self._wake_pending:
            self._wake_pending = True
            self._call_soon(self._ready.set)

    def _call_soon(self, fn: Callable[..., object], *args: object) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)
