"""The production broker as shipped (config/mosquitto.conf): TLS only, one account
per device, the ACL from `carebell broker-auth`, anonymous clients refused.

A real Mosquitto runs with a certificate made here (openssl, signed by a CA made
here). The black-box probe of 2026-12-01 found three attacks on the open demo
broker; each is tried here and must fail.
"""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from config.settings import Settings
from devices.gateway import MqttGateway
from devices.mqtt import BrokerAddress
from devices.protocol import commands_topic, event_payload, events_topic
from devices.tls import client_context
from dispatch.registry import provisioning
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.db import Database
from simulators import local_services

CATALOG = load_catalog(Settings().alert_types_file)
SERVER_USER, SERVER_PASSWORD = "carebell-server", "server-secret"


def make_certificates(folder: Path) -> local_services.BrokerTls:
    """A CA, and a broker certificate it signs for 127.0.0.1 and localhost."""
    folder.mkdir(parents=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=CareBell test CA",
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=localhost",
    )  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "server.crt", "-extfile", "san.ext",
    )  # fmt: skip
    return local_services.BrokerTls(folder / "server.crt", folder / "server.key", folder / "ca.crt")


@dataclass
class Broker:
    server: local_services.LocalServer
    tls: local_services.BrokerTls
    secrets: dict[str, str]

    def url(self, user: str | None = None, password: str | None = None) -> str:
        login = f"{user}:{password}@" if user else ""
        return f"mqtts://{login}127.0.0.1:{self.server.port}?cafile={self.tls.cafile}"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def broker(db: Database, tmp_path: Path) -> Iterator[Broker]:
    rows = provisioning.import_csv(
        db, CATALOG, "device_id,kind\npb-a,panic_button\npb-b,panic_button\n"
    )
    auth = tmp_path / "auth"
    auth.mkdir()
    for name, text in provisioning.broker_files(db, SERVER_USER, SERVER_PASSWORD).items():
        (auth / name).write_text(text)
    tls = make_certificates(tmp_path / "certs")
    server = local_services.mosquitto(tmp_path / "broker", auth_dir=auth, tls=tls).start()
    yield Broker(server, tls, {r.device_id: r.password or "" for r in rows})
    server.stop()


class Client:
    """A paho client that records what the broker answered and what it delivered."""

    def __init__(self, url: str) -> None:
        address = BrokerAddress.parse(url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"probe-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,  # one attempt: what the broker answers to it
        )
        if address.username:
            self.client.username_pw_set(address.username, address.password)
        if (tls := client_context(address)) is not None:
            self.client.tls_set_context(tls)
        self.connack: queue.Queue[mqtt.ReasonCode] = queue.Queue()
        self.heard: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.granted: queue.Queue[list[mqtt.ReasonCode]] = queue.Queue()
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.put(rc)
        self.client.on_message = lambda c, u, m: self.heard.put((m.topic, m.payload))
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.granted.put(codes)
        self.address = address

    def connect(self) -> mqtt.ReasonCode | None:
        """The CONNACK's reason code; None when no CONNACK came (TLS refused)."""
        try:
            self.client.connect(self.address.host, self.address.port, keepalive=10)
        except (OSError, ssl.SSLError):
            return None
        self.client.loop_start()
        try:
            return self.connack.get(timeout=5)
        except queue.Empty:
            return None

    def subscribe(self, *filters: str) -> list[str]:
        """Subscribe one filter at a time; the broker's answer to each."""
        answers = []
        for topic in filters:
            self.client.subscribe(topic, qos=1)
            answers.extend(code.getName() for code in self.granted.get(timeout=5))
        return answers

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
        if (sock := self.client.socket()) is not None:
            sock.close()  # refused: the broker hung up, paho keeps the socket


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def test_a_device_needs_tls_and_its_own_password(broker: Broker, clients: list[Client]) -> None:
    def attempt(url: str) -> mqtt.ReasonCode | None:
        client = Client(url)
        clients.append(client)
        return client.connect()

    own = attempt(broker.url("pb-a", broker.secrets["pb-a"]))
    assert own is not None
    assert not own.is_failure

    # Plain MQTT to the TLS port (a 3.1.1 CONNECT, client id "test"): the broker
    # hangs up, no CONNACK ever comes.
    connect = bytes.fromhex("1010 0004 4d515454 04 02 003c 0004 74657374".replace(" ", ""))
    with socket.create_connection(("127.0.0.1", broker.server.port), timeout=5) as raw:
        raw.sendall(connect)
        try:
            answer = raw.recv(4)
        except ConnectionResetError:
            answer = b""
    assert answer == b""
    # Another device's password, or none at all: refused by the broker.
    for refused in (
        attempt(broker.url("pb-a", broker.secrets["pb-b"])),
        attempt(broker.url("pb-a", "guess")),
        attempt(broker.url()),
    ):
        assert refused is not None
        assert refused.getName() in ("Not authorized", "Bad user name or password")
    # A client that does not trust the broker's CA stops at the handshake.
    untrusted = ssl.create_default_context()
    with (
        socket.create_connection(("127.0.0.1", broker.server.port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        untrusted.wrap_socket(raw, server_hostname="127.0.0.1")


async def test_the_three_attacks_of_the_probe_fail_against_the_server_over_tls(
    broker: Broker, clients: list[Client]
) -> None:
    received: list[tuple[str, bytes]] = []
    twenty = asyncio.Event()

    async def handler(batch: list[tuple[str, bytes]]) -> None:
        received.extend(batch)
        if len(received) >= 20:
            twenty.set()

    gateway = MqttGateway(
        broker.url(SERVER_USER, SERVER_PASSWORD),
        handler=handler,
        client_id=f"carebell-test-{uuid.uuid4().hex[:6]}",
        share_group="carebell",
    )
    await gateway.start()
    run = asyncio.create_task(gateway.run())
    try:
        # Anonymous: the probe's client cannot even connect, so it can neither
        # cancel, nor take events, nor read commands.
        anonymous = Client(broker.url())
        clients.append(anonymous)
        anonymous_connack = anonymous.connect()
        assert anonymous_connack is not None
        assert anonymous_connack.getName() == "Not authorized"

        # The strongest attacker left: a real device (pb-b) with its own password.
        elder = Client(broker.url("pb-a", broker.secrets["pb-a"]))
        attacker = Client(broker.url("pb-b", broker.secrets["pb-b"]))
        clients.extend([elder, attacker])
        for device in (elder, attacker):
            connack = device.connect()
            assert connack is not None
            assert not connack.is_failure
        elder.subscribe(commands_topic("pb-a"))
        # 2. Steal events from the gateway's shared subscription; 3. read commands
        # and positions of other devices.
        refused = attacker.subscribe(
            "$share/carebell/carebell/v1/devices/+/events",
            "carebell/v1/devices/+/events",
            "carebell/v1/devices/+/commands",
            "carebell/v1/devices/pb-a/commands",
            "carebell/v1/devices/pb-a/status",
            "#",
        )
        assert refused == ["Not authorized"] * 6

        # 1. Cancel pb-a's alert by writing on pb-a's topic.
        cancel = event_payload("forged-cancel", "cancel", datetime.now(UTC))
        attacker.client.publish(events_topic("pb-a"), cancel, qos=1).wait_for_publish(5)

        presses = [f"press-{i}" for i in range(20)]
        for event_id in presses:
            payload = event_payload(event_id, "press", datetime.now(UTC))
            elder.client.publish(events_topic("pb-a"), payload, qos=1).wait_for_publish(5)
        await gateway.publish(commands_topic("pb-a"), b'{"command":"received"}')
        assert elder.heard.get(timeout=5)[0] == commands_topic("pb-a")

        await asyncio.wait_for(twenty.wait(), 10)
        ids = [json.loads(payload)["event_id"] for _, payload in received]
        assert sorted(ids) == sorted(presses), "the forged cancel got in, or presses went missing"
        with pytest.raises(queue.Empty):
            attacker.heard.get(timeout=1)  # nothing reached the attacker
    finally:
        run.cancel()
        await gateway.stop()
