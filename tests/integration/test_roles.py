"""The provider's staff and the data-protection officer against what they must not
read or change: a provider's office sees its own caregivers, their orders and its
own statement lines, nothing of another provider's nor of elders and alerts; the
data officer reads access logs, exports and anonymises, and nothing else."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import httpx
import pytest

from dispatch.domain.access import Principal, Role
from dispatch.domain.lifecycle import AlertState, OrderState, VisitState
from dispatch.registry import accounts
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Caregiver, Elder, Order, Provider, Visit
from tests.conftest import RunningServer
from tests.helpers import CENTER, PASSWORD, bearer

DAY = date(2026, 11, 10)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@dataclass
class TwoProviders:
    ours: uuid.UUID  # 康乐's
    theirs: uuid.UUID  # 安康's
    our_caregiver: uuid.UUID
    their_caregiver: uuid.UUID
    our_order: uuid.UUID
    their_order: uuid.UUID
    elder: uuid.UUID


def _seed(db: Database) -> TwoProviders:
    raised = datetime.now(UTC) - timedelta(hours=1)
    with db.session() as session:
        ours, theirs = Provider(name="康乐服务中心"), Provider(name="安康服务社")
        elder = Elder(
            name="王秀英", address="和平里3幢", lat=CENTER[0], lon=CENTER[1], district="东城区"
        )
        session.add_all([ours, theirs, elder])
        session.flush()
        carers = [
            Caregiver(
                name=name,
                provider=p.name,
                provider_id=p.id,
                skills=["basic_care"],
                shift_start=time(0),
                shift_end=time(23, 59),
                home_lat=CENTER[0],
                home_lon=CENTER[1],
            )
            for name, p in (("李桂兰", ours), ("张建国", theirs))
        ]
        session.add_all(carers)
        session.flush()
        orders = []
        for carer in carers:
            alert = Alert(
                elder_id=elder.id,
                alert_type="help_button",
                severity="high",
                state=AlertState.RESOLVED,
                raised_at=raised,
                deadline_at=raised,
                device_ts=raised,
                updated_at=raised,
                lat=CENTER[0],
                lon=CENTER[1],
                district="东城区",
                claimed_until=raised + timedelta(days=1),
            )
            session.add(alert)
            session.flush()
            order = Order(
                alert_id=alert.id,
                caregiver_id=carer.id,
                state=OrderState.COMPLETED,
                offered_at=raised,
                expires_at=raised,
                updated_at=raised,
                eta_s=300,
                distance_m=800,
            )
            start = datetime.combine(DAY, time(1), tzinfo=UTC)
            visit = Visit(
                elder_id=elder.id,
                service="meal_assist",
                day=DAY,
                window_start=start,
                window_end=start + timedelta(hours=2),
                state=VisitState.DONE,
                caregiver_id=carer.id,
                subsidy_fen=3000,
            )
            session.add_all([order, visit])
            session.flush()
            orders.append(order.id)
        return TwoProviders(ours.id, theirs.id, carers[0].id, carers[1].id, *orders, elder.id)


async def _token(server: RunningServer, role: Role, provider_id: uuid.UUID | None = None) -> str:
    db = server.services.db
    name = f"{role.value}-{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(accounts.create_user, db, name, PASSWORD, role, provider_id=provider_id)
    async with httpx.AsyncClient(base_url=server.http) as http:
        answer = await http.post(
            "/api/v1/auth/login", json={"username": name, "password": PASSWORD}
        )
    answer.raise_for_status()
    token: str = answer.json()["token"]
    return token


@pytest.fixture
async def town(server: RunningServer) -> TwoProviders:
    return await asyncio.to_thread(_seed, server.services.db)


def test_a_providers_staff_account_must_name_its_provider() -> None:
    with pytest.raises(ValueError, match="provider"):
        Principal("office", Role.PROVIDER_STAFF)


async def test_a_providers_staff_see_their_caregivers_orders_and_statements_only(
    server: RunningServer, town: TwoProviders
) -> None:
    staff = bearer(await _token(server, Role.PROVIDER_STAFF, town.ours))
    async with httpx.AsyncClient(base_url=server.http, headers=staff) as http:
        carers = (await http.get("/api/v1/caregivers")).json()
        assert [c["id"] for c in carers] == [str(town.our_caregiver)]
        assert (await http.get(f"/api/v1/caregivers/{town.our_caregiver}")).status_code == 200
        assert (await http.get(f"/api/v1/caregivers/{town.their_caregiver}")).status_code == 404
        orders = (await http.get("/api/v1/orders")).json()
        assert [o["id"] for o in orders] == [str(town.our_order)]
        assert (await http.get(f"/api/v1/orders/{town.our_order}")).status_code == 200
        assert (await http.get(f"/api/v1/orders/{town.their_order}")).status_code == 404
        lines = (await http.get("/api/v1/reports/statements", params={"month": "2026-11"})).json()
        assert {line["provider"] for line in lines} == {"康乐服务中心"}
        csv = await http.get(
            "/api/v1/reports/statements", params={"month": "2026-11", "format": "csv"}
        )
        assert "康乐服务中心" in csv.text
        assert "安康服务社" not in csv.text
        # Nothing of elders, alerts, the board or accounts; no change to any record.
        for path in [
            "/api/v1/elders",
            f"/api/v1/elders/{town.elder}",
            "/api/v1/alerts",
            "/api/v1/kpis/today",
            "/api/v1/caregivers/live",
            "/api/v1/users",
            "/api/v1/devices",
            f"/api/v1/elders/{town.elder}/access-log",
            f"/api/v1/elders/{town.elder}/export",
            "/api/v1/reports/alerts",
        ]:
            assert (await http.get(path)).status_code == 403, path
        change = await http.patch(
            f"/api/v1/caregivers/{town.our_caregiver}", json={"skills": ["first_aid"]}
        )
        assert change.status_code == 403
        made = await http.post(
            "/api/v1/caregivers",
            json={
                "name": "x",
                "skills": ["basic_care"],
                "shift_start": "08:00",
                "shift_end": "16:00",
                "home_lat": 30.2,
                "home_lon": 120.1,
            },
        )
        assert made.status_code == 403
        assert (await http.post(f"/api/v1/elders/{town.elder}/anonymise")).status_code == 403
    # The other provider's office sees the other half.
    other = bearer(await _token(server, Role.PROVIDER_STAFF, town.theirs))
    async with httpx.AsyncClient(base_url=server.http, headers=other) as http:
        assert [o["id"] for o in (await http.get("/api/v1/orders")).json()] == [
            str(town.their_order)
        ]


async def test_the_data_officer_reads_access_logs_exports_and_anonymises_only(
    server: RunningServer, town: TwoProviders
) -> None:
    officer = bearer(await _token(server, Role.DATA_OFFICER))
    admin = bearer(await _token(server, Role.ADMIN))
    url = f"/api/v1/elders/{town.elder}"
    async with httpx.AsyncClient(base_url=server.http) as http:
        await http.get(url, headers={**admin, "X-CareBell-Screen": "admin.elder"})
        log = await http.get(f"{url}/access-log", headers=officer)
        assert log.status_code == 200
        assert [r["via"] for r in log.json()] == ["screen:admin.elder"]
        exported = await http.get(f"{url}/export", headers=officer)
        assert exported.status_code == 200
        assert exported.json()["elder"]["name"] == "王秀英"
        # Reading the record itself, changing it, or anything of the centre's work: no.
        for path in [
            url,
            "/api/v1/elders",
            "/api/v1/alerts",
            "/api/v1/orders",
            "/api/v1/caregivers",
            "/api/v1/users",
            f"{url}/changes",
            "/api/v1/reports/alerts",
            "/api/v1/kpis/today",
        ]:
            assert (await http.get(path, headers=officer)).status_code == 403, path
        changed = await http.patch(url, headers=officer, json={"fields": {"care_level": 3}})
        assert changed.status_code == 403
        made = await http.post(
            "/api/v1/users", headers=officer, json={"username": "sneaky", "role": "admin"}
        )
        assert made.status_code == 403
        done = await http.post(f"{url}/anonymise", headers=officer)
        assert done.status_code == 200, done.text
        assert done.json()["name"].startswith("匿名")
        # The officer's export and anonymisation are on the record's logs.
        log = (await http.get(f"{url}/access-log", headers=admin)).json()
        assert [r["via"] for r in log][-1] == "export"
        assert log[-1]["actor"].startswith("data_officer-")
