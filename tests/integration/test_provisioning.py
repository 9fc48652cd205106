"""Registering devices from a CSV, their broker logins, and what the broker lets them do."""

from __future__ import annotations

import queue
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import select

from config.settings import Settings
from devices import broker_auth
from devices.mqtt import BrokerAddress
from devices.protocol import event_payload, events_topic
from dispatch.registry import provisioning
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.db import Database
from dispatch.store.tables import Device, DeviceCredential
from simulators import local_services
from tests.conftest import RunningServer
from tests.helpers import bearer, login, seed_small_city

CATALOG = load_catalog(Settings().alert_types_file)


def test_a_csv_import_reports_every_row(db: Database) -> None:
    city = seed_small_city(db)
    text = (
        "device_id,kind,elder_id\n"
        f"pb-new-1,panic_button,{city.elder_id}\n"  # 2: fine
        "db-new-2,door_bell,\n"  # 3: fine, bound later
        f"{city.device_id},panic_button,\n"  # 4: already registered
        "x-1,toaster,\n"  # 5: no such kind
        "bad id!,wearable,\n"  # 6: malformed id
        f"wr-new-3,wearable,{uuid.uuid4()}\n"  # 7: no such elder
        "wr-new-4,wearable,not-a-uuid\n"  # 8
        "pb-new-1,panic_button,\n"  # 9: twice in the file
    )
    rows = provisioning.import_csv(db, CATALOG, text)
    assert [(r.line, r.ok) for r in rows] == [
        (2, True), (3, True), (4, False), (5, False), (6, False), (7, False), (8, False), (9, False)
    ]  # fmt: skip
    reasons = {r.line: r.error for r in rows}
    assert "already exists" in reasons[4]
    assert "unknown kind 'toaster'" in reasons[5]
    assert "malformed" in reasons[6]
    assert "no elder" in reasons[7]
    assert "not a UUID" in reasons[8]
    assert "twice" in reasons[9]
    with db.session() as session:
        created = session.get(Device, "pb-new-1")
        assert created is not None
        assert created.elder_id == city.elder_id
        credential = session.get(DeviceCredential, "pb-new-1")
        assert credential is not None
    # The password was shown once; only the broker's hash of it is kept.
    assert rows[0].password not in credential.broker_hash
    assert broker_auth.verify(rows[0].password, credential.broker_hash)
    assert not broker_auth.verify("guess", credential.broker_hash)


def test_a_file_without_the_columns_is_refused_whole(db: Database) -> None:
    [row] = provisioning.import_csv(db, CATALOG, "id;type\npb-1;panic_button\n")
    assert not row.ok
    assert "missing column" in row.error
    with db.session() as session:
        assert session.exec(select(Device)).all() == []


async def test_administrators_import_and_deactivate_over_the_api(server: RunningServer) -> None:
    admin = await login(server.http, server.services.db, "admin")
    operator = await login(server.http, server.services.db, "operator")
    csv_text = "device_id,kind\npb-api-1,panic_button\npb-api-2,teapot\n"
    async with httpx.AsyncClient(base_url=server.http) as http:
        refused = await http.post(
            "/api/v1/devices/import", content=csv_text, headers=bearer(operator)
        )
        assert refused.status_code == 403
        report = await http.post("/api/v1/devices/import", content=csv_text, headers=bearer(admin))
        body = report.json()
        assert (body["created"], body["failed"]) == (1, 1)
        assert body["rows"][0]["password"]
        assert "teapot" in body["rows"][1]["error"]
        gone = await http.post("/api/v1/devices/pb-api-1/deactivate", headers=bearer(admin))
        assert gone.json()["active"] is False
        again = await http.post("/api/v1/devices/pb-api-1/credentials", headers=bearer(admin))
        assert again.status_code == 409


def test_the_broker_lets_each_device_write_only_its_own_topics(
    db: Database, tmp_path: Path
) -> None:
    rows = provisioning.import_csv(
        db, CATALOG, "device_id,kind\npb-a,panic_button\npb-b,panic_button\n"
    )
    secrets = {r.device_id: r.password for r in rows}
    auth = tmp_path / "auth"
    auth.mkdir()
    for name, text in provisioning.broker_files(db, "carebell-server", "server-secret").items():
        (auth / name).write_text(text)
    broker = local_services.mosquitto(tmp_path / "broker", auth_dir=auth).start()
    address = BrokerAddress.parse(broker.url)
    clients: list[mqtt.Client] = []

    def connect(user: str, password: str) -> tuple[mqtt.Client, queue.Queue[object]]:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:4]}"
        )
        client.username_pw_set(user, password)
        results: queue.Queue[object] = queue.Queue()
        client.on_connect = lambda c, u, f, rc, p: results.put(rc)
        client.on_message = lambda c, u, m: results.put(m.topic)
        client.connect(address.host, address.port)
        client.loop_start()
        clients.append(client)
        return client, results

    try:
        server, heard = connect("carebell-server", "server-secret")
        assert not heard.get(timeout=5).is_failure  # type: ignore[attr-defined]
        # As the gateway does: an MQTT 5 shared subscription.
        server.subscribe("$share/carebell/carebell/v1/devices/+/events", qos=1)
        time.sleep(0.3)

        device_a, a_results = connect("pb-a", secrets["pb-a"])
        assert not a_results.get(timeout=5).is_failure  # type: ignore[attr-defined]
        payload = event_payload("e1", "press", datetime.now(UTC))
        device_a.publish(events_topic("pb-b"), payload, qos=1).wait_for_publish(5)  # not its own
        device_a.publish(events_topic("pb-a"), payload, qos=1).wait_for_publish(5)
        assert heard.get(timeout=5) == events_topic("pb-a")
        with pytest.raises(queue.Empty):
            heard.get(timeout=1)  # pb-a's message as pb-b never arrived

        _, wrong = connect("pb-b", "not-its-password")
        assert wrong.get(timeout=5).is_failure  # type: ignore[attr-defined]
    finally:
        for client in clients:
            client.loop_stop()
            client.disconnect()
        broker.stop()


async def test_a_field_over_the_csv_limit_is_a_clear_422_and_nothing_is_created(
    server: RunningServer,
) -> None:
    admin = bearer(await login(server.http, server.services.db, "admin"))
    huge = "x" * (129 * 1024)  # over the csv module's default field limit (128 KiB)
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
        for path, text in [
            ("/api/v1/devices/import", f"device_id,kind\npb-big-1,panic_button\npb-{huge},x\n"),
            ("/api/v1/elders/import", f"external_id,name,address\nHZ-big,{huge},路\n"),
            ("/api/v1/caregivers/import", f"external_id,name\nCG-big,{huge}\n"),
        ]:
            refused = await http.post(path, content=text.encode(), headers=admin)
            assert refused.status_code == 422, (path, refused.status_code)
            assert "not a readable CSV file" in refused.text
            assert huge not in refused.text  # the field is not echoed back
    with server.services.db.session() as session:
        assert session.get(Device, "pb-big-1") is None
