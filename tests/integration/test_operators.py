"""Operators take escalated alerts off the top of the queue, one or many at a time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from dispatch.domain.lifecycle import AlertState
from dispatch.domain.model import Severity
from dispatch.domain.urgency import urgency_key
from dispatch.store.tables import Alert
from tests.conftest import RunningServer
from tests.helpers import CENTER, LiveClient, bearer, login, seed_small_city


def by_the_rule(alert: dict[str, Any]) -> tuple[int, int, datetime]:
    return urgency_key(
        AlertState(alert["state"]),
        alert["acknowledged_at"] is not None,
        Severity(alert["severity"]),
        datetime.fromisoformat(alert["raised_at"]),
    )


def add_alert(
    server: RunningServer,
    device_id: str,
    alert_type: str,
    severity: str,
    state: AlertState,
    minutes_ago: float,
) -> uuid.UUID:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    alert = Alert(
        device_id=device_id,
        alert_type=alert_type,
        severity=severity,
        state=state,
        raised_at=at,
        deadline_at=at + timedelta(minutes=15),
        device_ts=at,
        updated_at=at,
        lat=CENTER[0],
        district="东城区",
        lon=CENTER[1],
        escalation_reason="everyone busy" if state == AlertState.ESCALATED else None,
        # Claimed far ahead: the running dispatcher leaves these alone.
        claimed_until=at + timedelta(days=1),
    )
    with server.services.db.session() as session:
        session.add(alert)
    return alert.id


async def test_escalated_alert_stays_on_top_until_an_operator_takes_it(
    server: RunningServer,
) -> None:
    city = await asyncio.to_thread(seed_small_city, server.services.db)
    old_low = add_alert(server, city.device_id, "door_bell", "medium", AlertState.OFFERED, 9)
    critical = add_alert(server, city.wearable_id, "fall", "critical", AlertState.OFFERED, 1)
    escalated = add_alert(server, city.device_id, "help_button", "high", AlertState.ESCALATED, 2)
    operator = await login(server.http, server.services.db, "operator", areas=("东城区",))
    board = await LiveClient.connect(f"{server.ws}/ws/v1/board", operator)
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        me = (await http.get("/api/v1/auth/me")).json()["username"]

        async def queue() -> list[str]:
            alerts = (await http.get("/api/v1/alerts", params={"sort": "urgency"})).json()
            # The SQL order is the domain's rule (which the board page is sent).
            assert alerts == sorted(alerts, key=by_the_rule)
            return [a["id"] for a in alerts]

        assert await queue() == [str(escalated), str(critical), str(old_low)]
        rules = (await http.get("/api/v1/board/settings")).json()
        assert rules["first_when_untaken"] == "escalated"
        assert rules["severity_weight"]["critical"] > rules["severity_weight"]["medium"]
        assert "escalated" in rules["open_states"]
        assert "resolved" not in rules["open_states"]
        taken = await http.post(f"/api/v1/alerts/{escalated}/acknowledge", json={})
        assert taken.status_code == 200
        assert taken.json()["acknowledged_by"] == me
        assert await queue() == [str(critical), str(escalated), str(old_low)]
        event = await board.next("alert.acknowledged")
        assert event["actor"] == f"operator:{me}"
        assert event["alert"]["id"] == str(escalated)

        trail = (await http.get(f"/api/v1/alerts/{escalated}/audit")).json()
        assert trail[-1]["actor"] == f"operator:{me}"
        # The first owner keeps it when a colleague acknowledges too.
        colleague = await login(server.http, server.services.db, "supervisor")
        again = await http.post(
            f"/api/v1/alerts/{escalated}/acknowledge", headers=bearer(colleague)
        )
        assert again.json()["acknowledged_by"] == me
    await board.close()


async def test_bulk_acknowledge_and_clear_errors(server: RunningServer) -> None:
    city = await asyncio.to_thread(seed_small_city, server.services.db)
    flood = [
        add_alert(server, city.device_id, "door_bell", "medium", AlertState.ESCALATED, i)
        for i in range(3)
    ]
    operator = await login(server.http, server.services.db, "supervisor")
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        taken = await http.post(
            "/api/v1/alerts/acknowledge",
            json={"alert_ids": [str(a) for a in flood]},
        )
        assert sorted(a["id"] for a in taken.json()) == sorted(str(a) for a in flood)
        unknown = await http.post(f"/api/v1/alerts/{uuid.uuid4()}/acknowledge", json={})
        assert unknown.status_code == 404
        anonymous = await http.post(
            f"/api/v1/alerts/{flood[0]}/acknowledge", headers={"Authorization": ""}
        )
        assert anonymous.status_code == 401
