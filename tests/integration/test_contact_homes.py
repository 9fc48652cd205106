"""Where contacts live, on real services (SQLite and PostgreSQL, the broker, the SMS
stand-in): kept in the registry through the API, the cascade asking the nearer
neighbour first, and a family member's answer on the family page counting as the
answer to the messages she was sent (the cascade's question among them)."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import httpx
from sqlmodel import col, select

from dispatch.store.db import Database
from dispatch.store.tables import AuditRecord, ElderContact
from simulators.contact_answers import AnswerHabits, FamilyPageAnswers
from simulators.devices import DevicePublisher
from simulators.sms_provider import AliyunSmsStandIn
from tests.conftest import RunningServer
from tests.helpers import CENTER, bearer, login, seed_small_city, wait_until
from tests.integration.test_cascade import asked_to_go, provider, settings  # noqa: F401
from tests.integration.test_sms_receipts import notices, steps, the_alert

NORTH_1KM = 0.009  # degrees of latitude, about a kilometre


def contact(name: str, relation: str, role: str, phone: str, km: float) -> dict[str, Any]:
    return {
        "name": name,
        "relation": relation,
        "role": role,
        "phones": [phone],
        "lat": CENTER[0] + km * NORTH_1KM,
        "lon": CENTER[1],
    }


def client(server: RunningServer, token: str) -> httpx.AsyncClient:
    # A loaded machine hashes passwords slowly: more than httpx's 5 s default.
    return httpx.AsyncClient(base_url=server.http, timeout=30, headers=bearer(token))


def contact_ids(db: Database, elder_id: uuid.UUID) -> dict[str, str]:
    with db.read() as session:
        found = session.exec(select(ElderContact).where(ElderContact.elder_id == elder_id)).all()
        return {c.name: str(c.id) for c in found}


def cascade_started(db: Database, alert_id: uuid.UUID) -> dict[str, Any] | None:
    with db.read() as session:
        record = session.exec(
            select(AuditRecord)
            .where(AuditRecord.alert_id == alert_id, AuditRecord.action == "cascade_started")
            .order_by(col(AuditRecord.id))
        ).first()
        return record.detail if record else None


async def test_the_nearer_neighbour_is_asked_first_and_a_daughter_s_answer_counts(
    server: RunningServer,
    publisher: DevicePublisher,
    provider: AliyunSmsStandIn,  # noqa: F811
) -> None:
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)  # no caregiver can get there
    admin = await login(server.http, db, "admin")
    operator = await login(server.http, db, "operator", areas=("东城区",))
    async with client(server, admin) as http:
        # In calling order: the daughter, a neighbour 900 m off, one 150 m off.
        people = [
            contact("王丽", "女儿", "family", "13800138001", 3.0),
            contact("李叔", "邻居", "neighbour", "13800138003", 0.9),
            contact("赵阿姨", "邻居", "neighbour", "13800138002", 0.15),
        ]
        half = {**people[1], "lon": None}
        refused = await http.patch(f"/api/v1/elders/{city.elder_id}", json={"contacts": [half]})
        assert refused.status_code == 422, refused.text
        assert "both lat and lon" in refused.text
        kept = await http.patch(f"/api/v1/elders/{city.elder_id}", json={"contacts": people})
        assert kept.status_code == 200, kept.text
        stored = [(c["name"], c["lat"]) for c in kept.json()["contacts"]]
        assert stored == [(p["name"], p["lat"]) for p in people]
        # Her account is matched to her contact by the link's relation (the only
        # daughter among the contacts).
        daughter = await login(server.http, db, "family")
        me = (await http.get("/api/v1/auth/me", headers=bearer(daughter))).json()
        linked = await http.post(
            f"/api/v1/elders/{city.elder_id}/family",
            json={"username": me["username"], "relation": "女儿"},
        )
        assert linked.status_code == 201, linked.text

    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

    async def first_asked() -> list[str]:
        return asked_to_go(provider)

    assert await wait_until(first_asked, timeout_s=30) == ["13800138002"]
    alert_id = await asyncio.to_thread(the_alert, db, city.device_id)
    assert alert_id is not None
    started = await asyncio.to_thread(cascade_started, db, alert_id)
    assert started is not None
    assert started["order"] == ["赵阿姨", "李叔", "王丽"]  # nearer first, family last

    url = f"/api/v1/alerts/{alert_id}/cascade/answer"
    async with httpx.AsyncClient(
        base_url=server.http, timeout=30, headers=bearer(operator)
    ) as http:
        ids = await asyncio.to_thread(contact_ids, db, city.elder_id)
        for name, phones in (("赵阿姨", 2), ("李叔", 3)):
            no = await http.post(url, json={"contact_id": ids[name], "answer": "no"})
            assert no.status_code == 200, no.text

            async def asked(n: int = phones) -> bool:
                return len(asked_to_go(provider)) == n

            await wait_until(asked, timeout_s=30)
    assert asked_to_go(provider)[-1] == "13800138001"  # the daughter, asked last

    # She says on the family page that she is going, without her phone's position.
    async with httpx.AsyncClient(
        base_url=server.http, timeout=30, headers=bearer(daughter)
    ) as http:
        going = await http.post(
            f"/api/v1/family/alerts/{alert_id}/answer", json={"answer": "going"}
        )
        assert going.status_code == 200, going.text
    mine = [n for n in await asyncio.to_thread(notices, db, alert_id) if n.contact_name == "王丽"]
    assert {n.step: n.status for n in mine}["cascade"] == "acknowledged"
    assert all(n.status in ("acknowledged", "failed") for n in mine)
    (answer,) = [d for _, d in await asyncio.to_thread(steps, db, alert_id, "family_answer")]
    assert answer["from"] == "home"
    assert 2_900 < answer["distance_m"] < 3_100
    assert "cascade" in answer["answers"]
    await asyncio.sleep(3)  # the loops' passes: her yes ended the cascade
    assert len(asked_to_go(provider)) == 3
    ended = [a for a, _ in await asyncio.to_thread(steps, db, alert_id, "cascade_exhausted")]
    assert ended == []


async def test_the_simulated_family_member_answers_on_the_family_page(
    server: RunningServer,
    publisher: DevicePublisher,
    provider: AliyunSmsStandIn,  # noqa: F811
) -> None:
    """The demo's family accounts (simulators/contact_answers.py) answer through the
    family page's own resources: this one always, and "cannot come"."""
    db = server.services.db
    city = await asyncio.to_thread(seed_small_city, db)
    admin = await login(server.http, db, "admin")
    daughter = await login(server.http, db, "family")
    async with client(server, admin) as http:
        me = (await http.get("/api/v1/auth/me", headers=bearer(daughter))).json()
        linked = await http.post(
            f"/api/v1/elders/{city.elder_id}/family",
            json={"username": me["username"], "relation": "女儿"},
        )
        assert linked.status_code == 201, linked.text
    habits = AnswerHabits(answer_share=1.0, yes_share=0.0, delay_s=(0.1, 0.2))
    async with client(server, daughter) as http:
        page = FamilyPageAnswers(http, habits, random.Random(5), every_s=0.3, name="daughter")
        answering = asyncio.create_task(page.run())
        try:
            await asyncio.to_thread(publisher.publish_event, city.device_id, "press")

            async def answered() -> list[tuple[str, dict[str, object]]]:
                alert_id = await asyncio.to_thread(the_alert, db, city.device_id)
                return (
                    await asyncio.to_thread(steps, db, alert_id, "family_answer")
                    if alert_id
                    else []
                )

            (said,) = await wait_until(answered, timeout_s=30)
            assert said[0] == f"family:{me['username']}"
            assert said[1]["answer"] == "cannot_come"
            await asyncio.sleep(1.5)  # more looks: the same alert is answered once
            assert len(await answered()) == 1
        finally:
            answering.cancel()
