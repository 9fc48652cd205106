"""Sealed fields at rest and key rotation; export and anonymisation on request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import col, select

from dispatch.registry.privacy import reseal_all
from dispatch.store import sealed
from dispatch.store.audit import record_note
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, Elder, ElderContact, Notification
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import bearer, login, seed_small_city, wait_until
from tests.integration.test_end_to_end import on_shift


@pytest.fixture
def keys() -> Iterator[tuple[str, str]]:
    yield sealed.new_key(), sealed.new_key()
    sealed.use_keys([])  # process state: leave none for the next test


def _raw(db: Database, elder_id: object) -> tuple[str, str, str]:
    with db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT id_number, notes, access_notes FROM elder WHERE id = :id"),
            {"id": elder_id.hex if db.engine.dialect.name == "sqlite" else elder_id},  # type: ignore[attr-defined]
        ).one()
    return row[0], row[1], row[2]


def test_sensitive_fields_are_sealed_at_rest_and_survive_a_key_rotation(
    db: Database, keys: tuple[str, str]
) -> None:
    old, new = keys
    sealed.use_keys([old])
    elder = Elder(
        name="陈淑珍",
        address="和平里5幢",
        lat=30.28,
        lon=120.16,
        id_number="330102194403150023",
        notes="高血压",
        access_notes="门禁 1234#",
    )
    with db.session() as session:
        session.add(elder)
    raw = _raw(db, elder.id)
    assert all(v.startswith("fernet:") for v in raw)
    assert "1234" not in raw[2]
    assert "330102" not in raw[0]
    with db.read() as session:
        stored = session.get(Elder, elder.id)
        assert stored is not None
        assert (stored.id_number, stored.notes) == ("330102194403150023", "高血压")

    sealed.use_keys([new, old])  # the new key first; the old one still opens
    assert reseal_all(db) == 1
    assert _raw(db, elder.id)[1] != raw[1]
    sealed.use_keys([new])  # the old key removed after the rotation
    with db.read() as session:
        stored = session.get(Elder, elder.id)
        assert stored is not None
        assert stored.access_notes == "门禁 1234#"
    sealed.use_keys([old])  # a value sealed with a key no longer held is refused
    with pytest.raises(sealed.SealError), db.read() as session:
        session.get(Elder, elder.id)


def test_values_stored_before_keys_are_sealed_by_the_next_rotation(
    db: Database, keys: tuple[str, str]
) -> None:
    elder = Elder(name="刘桂芳", address="和平里3幢", lat=30.28, lon=120.16, notes="糖尿病")
    with db.session() as session:
        session.add(elder)
    assert _raw(db, elder.id)[1] == "糖尿病"
    sealed.use_keys([keys[0]])
    reseal_all(db)
    assert _raw(db, elder.id)[1].startswith("fernet:")


def test_a_malformed_key_is_refused_by_position() -> None:
    with pytest.raises(ValueError, match="data key 1"):
        sealed.use_keys([sealed.new_key(), "not-a-key"])
    sealed.use_keys([])


async def test_export_and_anonymise_on_request(server: RunningServer) -> None:
    db = server.services.db
    admin = bearer(await login(server.http, db, "admin"))
    operator = bearer(await login(server.http, db, "operator", areas=("东城区",)))
    body = {
        "name": "陈淑珍",
        "address": "和平里5幢1单元202室",
        "lat": 30.28123,
        "lon": 120.16456,
        "district": "东城区",
        "id_number": "330102194403150023",
        "phone": "13800001111",
        "notes": "高血压",
        "contacts": [{"name": "陈晓红", "relation": "女儿", "phones": ["13900002222"]}],
    }
    async with httpx.AsyncClient(base_url=server.http) as http:
        elder = (await http.post("/api/v1/elders", headers=admin, json=body)).json()
        url = f"/api/v1/elders/{elder['id']}"
        await http.patch(url, headers=admin, json={"fields": {"care_level": 2}})
        assert (await http.get(f"{url}/export", headers=operator)).status_code == 403
        exported = (await http.get(f"{url}/export", headers=admin)).json()
        assert exported["elder"]["id_number"] == "330102194403150023"
        assert exported["contacts"][0]["name"] == "陈晓红"
        assert [c["action"] for c in exported["changes"]] == ["created", "updated"]
        assert exported["access_log"][-1]["via"] == "export"

        assert (await http.post(f"{url}/anonymise", headers=operator)).status_code == 403
        done = await http.post(f"{url}/anonymise", headers=admin)
        assert done.status_code == 200, done.text
        after = (await http.get(url, headers=admin)).json()
        assert after["name"].startswith("匿名")
        assert (after["phone"], after["id_number"], after["address"], after["notes"]) == (
            "",
            "",
            "",
            "",
        )
        assert after["contacts"] == []
        assert (after["lat"], after["lon"]) == (30.28, 120.16)
        assert after["active"] is False
        changes = (await http.get(f"{url}/changes", headers=admin)).json()
        assert changes[-1]["action"] == "anonymised"
        text_of_log = str(changes)
        assert "陈淑珍" not in text_of_log
        assert "13800001111" not in text_of_log


def _trail(db: Database) -> list[dict[str, Any]]:
    """The audit trail as stored, with the live messages it publishes and replays."""
    with db.read() as session:
        rows = session.exec(select(AuditRecord).order_by(col(AuditRecord.id))).all()
        return [r.model_dump() for r in rows]


async def test_anonymising_scrubs_the_card_from_past_alerts_and_keeps_their_history(
    server: RunningServer, publisher: DevicePublisher
) -> None:
    """A press offered to a caregiver put the elder's card (name, address, phone,
    health notes, door access) into the order's stored live messages, and a contact
    was told: anonymising leaves every step of the alert, naming nobody."""
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)

    def personal_details() -> None:
        with db.session() as session:
            elder = session.get(Elder, city.elder_id)
            assert elder is not None
            elder.phone, elder.notes, elder.access_notes = "13800001111", "高血压", "门禁 1234#"
            elder.lat, elder.lon = 30.27412, 120.15519
            session.add(elder)
            session.add(
                ElderContact(elder_id=elder.id, position=0, name="陈晓红", phones=["13900002222"])
            )

    await asyncio.to_thread(personal_details)
    admin = bearer(await login(server.http, db, "admin"))
    near = await on_shift(server, city.near_id, 0.0045)
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    await near.next("order.offered")
    async with httpx.AsyncClient(base_url=server.http, headers=admin) as http:

        async def offered() -> list[dict[str, object]]:
            orders: list[dict[str, object]] = (await http.get("/api/v1/orders")).json()
            return orders

        await wait_until(offered)
        [alert] = (await http.get("/api/v1/alerts")).json()

        def contact_told() -> None:
            with db.session() as session:
                row = session.get(Alert, uuid.UUID(alert["id"]))
                [contact] = session.exec(select(ElderContact)).all()
                assert row is not None
                now = datetime.now(UTC)
                note = record_note(
                    session,
                    row,
                    action="notified",
                    actor="notifier",
                    at=now,
                    detail={"contact": contact.name, "step": "raised", "status": "sent"},
                )
                session.flush()
                session.add(
                    Notification(
                        alert_id=row.id,
                        audit_id=note.id,
                        contact_id=contact.id,
                        contact_name=contact.name,
                        phone=contact.phones[0],
                        step="raised",
                        channel="sms",
                        status="sent",
                        created_at=now,
                        updated_at=now,
                    )
                )

        await asyncio.to_thread(contact_told)
        trail = await asyncio.to_thread(_trail, db)
        said = str(trail)
        # (The door access is on the card only once the caregiver is on the way.)
        for personal in ("王秀英", "13800001111", "高血压", "陈晓红", "30.27412"):
            assert personal in said or personal in str(alert), personal

        done = await http.post(f"/api/v1/elders/{city.elder_id}/anonymise")
        assert done.status_code == 200, done.text
        after = await asyncio.to_thread(_trail, db)
        [kept] = (await http.get("/api/v1/alerts")).json()
    assert [(r["id"], r["to_state"], r["action"]) for r in after] == [
        (r["id"], r["to_state"], r["action"]) for r in trail
    ]
    for personal in ("王秀英", "13800001111", "高血压", "门禁 1234#", "陈晓红", "30.27412"):
        assert personal not in str(after), personal
        assert personal not in str(kept), personal
    cards = [r["event"]["elder"] for r in after if r["event"].get("elder")]
    assert cards, "an order's message carried the card"
    assert all(c["name"].startswith("匿名") and c["lat"] == 30.27 for c in cards)
    assert (kept["id"], kept["state"], kept["district"]) == (alert["id"], alert["state"], "东城区")
    with db.read() as session:
        [notice] = session.exec(select(Notification)).all()
        assert (notice.contact_name, notice.phone, notice.status) == ("(removed)", "", "sent")
