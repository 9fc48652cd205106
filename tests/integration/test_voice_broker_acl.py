"""The broker's generated ACL carries voice signalling, and keeps each device to its own."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from config.settings import Settings
from devices.mqtt import BrokerAddress
from devices.protocol import VOICE_UP_FILTER, voice_down_topic, voice_up_topic
from dispatch.registry import provisioning
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.db import Database
from simulators import local_services

CATALOG = load_catalog(Settings().alert_types_file)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def broker(db: Database, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    rows = provisioning.import_csv(
        db, CATALOG, "device_id,kind\npb-a,panic_button\npb-b,panic_button\n"
    )
    auth = tmp_path / "auth"
    auth.mkdir()
    for name, text in provisioning.broker_files(db, "carebell-server", "server-secret").items():
        (auth / name).write_text(text)
    server = local_services.mosquitto(tmp_path / "broker", auth_dir=auth).start()
    yield server.url, {r.device_id: r.password or "" for r in rows}
    server.stop()


def test_voice_goes_from_the_server_to_its_device_and_back_and_nowhere_else(
    broker: tuple[str, dict[str, str]],
) -> None:
    url, secrets = broker
    address = BrokerAddress.parse(url)
    clients: list[mqtt.Client] = []

    def connect(user: str, password: str, *topics: str) -> tuple[mqtt.Client, queue.Queue[str]]:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:4]}"
        )
        client.username_pw_set(user, password)
        heard: queue.Queue[str] = queue.Queue()
        subscribed: queue.Queue[bool] = queue.Queue()

        def on_connect(c: mqtt.Client, *_: object) -> None:
            for topic in topics:
                c.subscribe(topic, qos=1)

        client.on_connect = on_connect
        client.on_subscribe = lambda *_: subscribed.put(True)  # the broker has it
        client.on_message = lambda c, u, m: heard.put(m.topic)
        client.connect(address.host, address.port)
        client.loop_start()
        clients.append(client)
        for _ in topics:
            subscribed.get(timeout=5)
        return client, heard

    try:
        server, server_heard = connect("carebell-server", "server-secret", VOICE_UP_FILTER)
        a, a_heard = connect("pb-a", secrets["pb-a"], voice_down_topic("pb-a"))
        # pb-b tries to listen to pb-a's calls: the ACL gives it nothing.
        _, b_heard = connect("pb-b", secrets["pb-b"], voice_down_topic("pb-a"))

        server.publish(voice_down_topic("pb-a"), b"{}", qos=1).wait_for_publish(5)
        assert a_heard.get(timeout=5) == voice_down_topic("pb-a")
        a.publish(voice_up_topic("pb-b"), b"{}", qos=1).wait_for_publish(5)  # not its own
        a.publish(voice_up_topic("pb-a"), b"{}", qos=1).wait_for_publish(5)
        assert server_heard.get(timeout=5) == voice_up_topic("pb-a")
        with pytest.raises(queue.Empty):
            server_heard.get(timeout=1)  # pb-a's answer as pb-b never arrived
        with pytest.raises(queue.Empty):
            b_heard.get(timeout=0.5)
    finally:
        for client in clients:
            client.loop_stop()
            client.disconnect()
