"""Sealed fields at rest and key rotation; export and anonymisation on request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from dispatch.registry.privacy import reseal_all
from dispatch.store import sealed
from dispatch.store.db import Database
from dispatch.store.tables import Elder
from tests.conftest import RunningServer
from tests.helpers import bearer, login


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
