"""A server that dies mid-call: its calls end on the record when it starts again.

Calls live in the memory of the server process that relays them; a real
process is killed (no clean shutdown, as in a crash or a power cut) and started
again on the same database.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, VoiceCall
from simulators import local_services
from simulators.devices import DevicePublisher
from tests.helpers import LiveClient, login, seed_small_city, wait_until
from tests.system.test_two_processes import ServerProcess

V0_SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@pytest.fixture
def env(
    mosquitto: local_services.LocalServer,
    redis_server: local_services.LocalServer,
    tmp_path: Path,
) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "CAREBELL_DATABASE_URL": f"sqlite:///{tmp_path / 'carebell.db'}",
        "CAREBELL_MQTT_URL": mosquitto.url,
        "CAREBELL_REDIS_URL": redis_server.url,
        "CAREBELL_REDIS_PREFIX": f"restart-{tag}",
        "CAREBELL_MQTT_SHARE_GROUP": f"g{tag}",
        "CAREBELL_MQTT_CLIENT_ID": f"gw-{tag}",
        "CAREBELL_HTTP_PORT": str(local_services.free_port()),
        "CAREBELL_VOICE_RING_TIMEOUT_S": "600",  # still ringing when the server dies
    }


@pytest.fixture
def db(env: dict[str, str]) -> Iterator[Database]:
    database = Database(env["CAREBELL_DATABASE_URL"])
    database.create_schema()
    yield database
    database.dispose()


def started(env: dict[str, str], log: Path) -> ServerProcess:
    server = ServerProcess(env, log)
    server.wait_ready()
    return server


def open_call_of_another_server(db: Database, alert_id: uuid.UUID) -> uuid.UUID:
    """A call another, still running, server relays: not this server's to end."""
    call_id = uuid.uuid4()
    with db.session() as session:
        session.add(
            VoiceCall(
                id=call_id,
                alert_id=alert_id,
                host="op-elsewhere",
                parties=["caregiver:x"],
                started_at=datetime.now(UTC),
                served_by="gw-another-server",
            )
        )
    return call_id


def the_alert(db: Database) -> Alert | None:
    with db.session() as session:
        return session.exec(select(Alert)).first()


def call_row(db: Database, call_id: uuid.UUID) -> VoiceCall | None:
    with db.session() as session:
        return session.get(VoiceCall, call_id)


def call_steps(db: Database, alert_id: uuid.UUID) -> list[AuditRecord]:
    with db.session() as session:
        query = select(AuditRecord).where(
            AuditRecord.alert_id == alert_id,
            AuditRecord.action.startswith("call_"),  # type: ignore[union-attr]
        )
        return list(session.exec(query.order_by(AuditRecord.at)).all())  # type: ignore[arg-type]


async def test_a_call_cut_by_a_crash_ends_as_server_restart_when_the_server_is_back(
    env: dict[str, str], db: Database, mosquitto: local_services.LocalServer, tmp_path: Path
) -> None:
    server = await asyncio.to_thread(started, env, tmp_path / "first.log")
    try:
        city = await asyncio.to_thread(seed_small_city, db)
        token = await login(server.http, db, "operator", areas=("东城区",))
        board = await LiveClient.connect(f"{server.ws}/ws/v1/board", token)
        publisher = DevicePublisher(mosquitto.url)
        publisher.connect()
        await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
        publisher.close()
        await board.next("voice.waiting")
        alert = await asyncio.to_thread(the_alert, db)
        assert alert is not None

        # The operator calls the device back; no device answers, so it rings on.
        call_id = uuid.uuid4()
        await board.send(
            type="voice.dial",
            call_id=str(call_id),
            to=f"device:{city.device_id}",
            alert_id=str(alert.id),
            sdp=V0_SDP,
        )
        await board.next("voice.call", call_id=str(call_id), state="ringing")
        other = await asyncio.to_thread(open_call_of_another_server, db, alert.id)
        await board.close()
    finally:
        server.process.kill()  # no shutdown: the call dies with the process's memory
        await asyncio.to_thread(server.process.wait, 15)

    row = await asyncio.to_thread(call_row, db, call_id)
    assert row is not None
    assert row.ended_at is None  # nobody could write its end

    again = await asyncio.to_thread(started, env, tmp_path / "second.log")
    try:

        async def closed() -> VoiceCall | None:
            found = await asyncio.to_thread(call_row, db, call_id)
            return found if found and found.ended_at else None

        row = await wait_until(closed)
        assert row.end_reason == "server_restart"
        assert row.answered_at is None
        assert row.served_by == env["CAREBELL_MQTT_CLIENT_ID"]
        elsewhere = await asyncio.to_thread(call_row, db, other)
        assert elsewhere is not None
        assert elsewhere.ended_at is None  # the other server's call goes on
        steps = await asyncio.to_thread(call_steps, db, alert.id)
        assert [s.action for s in steps] == ["call_started", "call_ended"]
        assert steps[-1].detail["end_reason"] == "server_restart"
        assert steps[-1].detail["call_id"] == str(call_id)
    finally:
        again.stop()
