"""Credit scores from the month's recorded facts, through the API, on real databases."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select as sa_select
from sqlmodel import col

from dispatch.domain.lifecycle import AlertState, OrderState, VisitState
from dispatch.store.db import Database
from dispatch.store.tables import Elder, Order, Provider, RegistryChange
from tests.conftest import RunningServer
from tests.helpers import CENTER, bearer, login
from tests.integration.test_reports import _alert, _step
from tests.integration.test_visit_history import _carer, _visit


@dataclass(frozen=True)
class Team:
    provider: uuid.UUID
    good: uuid.UUID
    poor: uuid.UUID


def seed_team(db: Database) -> Team:
    elder = Elder(name="王秀英", address="和平里社区3幢", lat=CENTER[0], lon=CENTER[1],
                  district="东城区", street="和平街道")  # fmt: skip
    provider = Provider(name=f"安康护理站-{uuid.uuid4().hex[:4]}")
    good, poor = _carer("陈静", provider.id), _carer("刘强", provider.id)
    nov = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)
    alerts = [
        _alert(elder, "help_button", "high", AlertState.RESOLVED, nov + timedelta(hours=k))
        for k in range(7)
    ]
    october = _alert(elder, "help_button", "high", AlertState.RESOLVED,
                     datetime(2026, 10, 20, 2, 0, tzinfo=UTC))  # fmt: skip

    def order(alert: object, who: uuid.UUID, state: OrderState) -> Order:
        raised = alert.raised_at  # type: ignore[attr-defined]
        return Order(alert_id=alert.id, caregiver_id=who, state=state,  # type: ignore[attr-defined]
                     offered_at=raised, expires_at=raised + timedelta(seconds=30),
                     updated_at=raised, eta_s=300, distance_m=800)  # fmt: skip

    with db.session() as session:
        session.add(provider)
        session.flush()
        session.add_all([elder, good, poor])
        session.flush()
        session.add_all([*alerts, october])
        session.flush()
        # 陈静: six offers taken, all on scene within the deadline (15 min).
        taken = [order(a, good.id, OrderState.COMPLETED) for a in alerts[:6]]
        # 刘强: one taken and on scene late, three let expire, one declined.
        late = order(alerts[6], poor.id, OrderState.COMPLETED)
        session.add_all([*taken, late])
        session.add_all(order(a, poor.id, OrderState.EXPIRED) for a in alerts[:3])
        session.add(order(alerts[3], poor.id, OrderState.DECLINED))
        session.add(order(october, poor.id, OrderState.COMPLETED))  # October's: not counted
        session.flush()
        session.add_all(
            _step(o_alert, "order", "on_scene", 600, order_id=o.id, caregiver_id=good.id)
            for o_alert, o in zip(alerts[:6], taken, strict=True)
        )
        session.add(_step(alerts[6], "order", "on_scene", 1200, order_id=late.id,
                          caregiver_id=poor.id))  # fmt: skip
        # 刘强's visits: two missed, one done but started 450 m from the address.
        day = date(2026, 11, 5)
        session.add_all([
            _visit(elder, day, VisitState.MISSED, caregiver_id=poor.id),
            _visit(elder, day + timedelta(days=1), VisitState.MISSED, caregiver_id=poor.id),
            _visit(elder, day + timedelta(days=2), VisitState.DONE, caregiver_id=poor.id,
                   started_at=datetime(2026, 11, 7, 1, 5, tzinfo=UTC), start_distance_m=450.0),
        ])  # fmt: skip
    return Team(provider.id, good.id, poor.id)


async def test_credit_scores_explain_themselves_and_flag_the_low(server: RunningServer) -> None:
    team = await asyncio.to_thread(seed_team, server.services.db)
    supervisor = await login(server.http, server.services.db, "supervisor")
    operator = await login(server.http, server.services.db, "operator", areas=("东城区",))
    url = "/api/v1/reports/credit"
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        response = await http.get(url, params={"month": "2026-11"})
        for bad in ("2026-13", "11-2026", "x"):
            assert (await http.get(url, params={"month": bad})).status_code == 422, bad
        assert (await http.get(url)).status_code == 422
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        assert (await http.get(url, params={"month": "2026-11"})).status_code == 403
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["policy"]["weights"]["on_time"] == 3.0
    people = {row["caregiver_id"]: row for row in body["caregivers"]}

    good = people[str(team.good)]
    assert (good["score"], good["standing"], good["bonus_s"]) == (100.0, "good", 60.0)
    assert {p["part"]: (p["good"], p["facts"]) for p in good["parts"]} == {
        "offers_taken": (6, 6), "on_time": (6, 6),
    }  # fmt: skip
    assert good["hold_from_dispatch"] is False

    poor = people[str(team.poor)]
    # offers 1/5 (w 2), on time 0/1 (w 3), at the address 0/1 (w 2), kept 1/3 (w 2):
    # (2 x 20 + 0 + 0 + 2 x 33.33) / 9 = 11.9
    assert (poor["score"], poor["standing"], poor["bonus_s"]) == (11.9, "low", 0.0)
    assert {p["part"]: (p["good"], p["facts"]) for p in poor["parts"]} == {
        "offers_taken": (1, 5), "on_time": (0, 1), "at_address": (0, 1), "visits_kept": (1, 3),
    }  # fmt: skip
    assert sum(p["points"] for p in poor["parts"]) == pytest.approx(11.85)
    assert poor["hold_from_dispatch"] is True
    assert body["caregivers"][0]["standing"] == "low"  # the worst first

    [provider] = [p for p in body["providers"] if p["provider_id"] == str(team.provider)]
    # Pooled: offers 7/11, on time 6/7, at the address 0/1, kept 1/3: 50.1, low.
    assert (provider["score"], provider["standing"]) == (50.1, "low")
    assert provider["statement_review"] is True

    # The provider's statement for the month says so beside its lines.
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        statement = await http.get("/api/v1/reports/statements", params={"month": "2026-11"})
    assert statement.status_code == 200, statement.text
    lines = [line for line in statement.json() if line["provider"].startswith("安康护理站")]
    assert lines
    assert all(line["credit_review"] is True for line in lines)


async def test_applying_a_month_holds_the_low_and_a_supervisor_clears_it(
    server: RunningServer,
) -> None:
    team = await asyncio.to_thread(seed_team, server.services.db)
    supervisor = await login(server.http, server.services.db, "supervisor")
    operator = await login(server.http, server.services.db, "operator", areas=("东城区",))
    clear = f"/api/v1/reports/credit/holds/{team.poor}/clear"
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        assert (await http.post("/api/v1/reports/credit/apply", params={"month": "2026-11"})
                ).status_code == 403  # fmt: skip
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        assert (await http.post(clear, json={"note": "x"})).status_code == 404  # not held yet
        applied = await http.post("/api/v1/reports/credit/apply", params={"month": "2026-11"})
        assert applied.status_code == 200, applied.text
        assert str(team.poor) in applied.json()["held"]
        assert applied.json()["bonus_s"][str(team.good)] == 60.0
        report = (await http.get("/api/v1/reports/credit", params={"month": "2026-11"})).json()
        rows = {r["caregiver_id"]: r for r in report["caregivers"]}
        assert rows[str(team.poor)]["held"] is True
        assert rows[str(team.good)]["held"] is False
        assert (await http.post(clear, json={"note": ""})).status_code == 422
        cleared = await http.post(clear, json={"note": "回访确认，手机故障"})
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["cleared_by"] == cleared.json()["applied_by"]
        assert (await http.post(clear, json={"note": "again"})).status_code == 409
        # Applying the month again keeps the hold cleared.
        await http.post("/api/v1/reports/credit/apply", params={"month": "2026-11"})
        report = (await http.get("/api/v1/reports/credit", params={"month": "2026-11"})).json()
        assert {r["caregiver_id"]: r for r in report["caregivers"]}[str(team.poor)]["held"] is False
    with server.services.db.session() as session:
        actions = session.execute(
            sa_select(col(RegistryChange.action), col(RegistryChange.actor))
            .where(col(RegistryChange.entity_id) == str(team.poor))
            .order_by(col(RegistryChange.id))
        ).all()
    assert [a for a, _ in actions] == ["credit_hold", "credit_hold_cleared"]
