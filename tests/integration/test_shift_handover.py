"""The operators' shift hand-over on real databases: what is on the desk, handing it
over with notes, the incoming operator acknowledging it, scoping by area."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from dispatch.domain.lifecycle import AlertState
from dispatch.store.db import Database
from dispatch.store.tables import Alert
from tests.conftest import RunningServer
from tests.helpers import CENTER, bearer, login


def _alert(district: str, street: str, state: AlertState, minutes_ago: int) -> Alert:
    raised = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return Alert(
        alert_type="help_button",
        severity="high",
        state=state,
        raised_at=raised,
        deadline_at=raised + timedelta(minutes=15),
        device_ts=raised,
        updated_at=raised,
        lat=CENTER[0],
        lon=CENTER[1],
        district=district,
        street=street,
        # No dispatcher round takes these: the test is the operators' desk.
        claimed_until=raised + timedelta(days=1),
    )


def seed(db: Database) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
    """Two open alerts in 东城区 (oldest first), one open in 西城区, one closed in 东城区."""
    alerts = (
        _alert("东城区", "和平街道", AlertState.RAISED, 50),
        _alert("东城区", "安定门街道", AlertState.ESCALATED, 20),
        _alert("西城区", "月坛街道", AlertState.RAISED, 10),
        _alert("东城区", "和平街道", AlertState.RESOLVED, 90),
    )
    with db.session() as session:
        session.add_all(alerts)
    first, second, west, closed = alerts
    return first.id, second.id, west.id, closed.id


async def test_the_desk_is_handed_over_and_acknowledged_by_the_incoming_operator(
    server: RunningServer,
) -> None:
    first, second, west, closed = await asyncio.to_thread(seed, server.services.db)
    db = server.services.db
    outgoing = await login(server.http, db, "operator", areas=("东城区",))
    incoming = await login(server.http, db, "operator", areas=("东城区/和平街道",))
    elsewhere = await login(server.http, db, "operator", areas=("西城区",))
    supervisor = await login(server.http, db, "supervisor")
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(outgoing)) as http:
        # The elder of the first alert did not answer; the second one's did.
        for alert_id, outcome in ((first, "no_answer"), (second, "reached_ok")):
            response = await http.post(
                f"/api/v1/alerts/{alert_id}/callback",
                json={"outcome": outcome, "note": f"{outcome} at the first try"},
            )
            assert response.status_code == 200, response.text
        desk = (await http.get("/api/v1/shift-handovers/now")).json()
        assert [a["alert_id"] for a in desk["open_alerts"]] == [str(first), str(second)]
        assert desk["open_alerts"][0]["street"] == "和平街道"
        assert [c["alert_id"] for c in desk["callbacks_due"]] == [str(first)]
        assert desk["callbacks_due"][0]["note"] == "no_answer at the first try"

        too_long = await http.post("/api/v1/shift-handovers", json={"notes": "x" * 4001})
        assert too_long.status_code == 422
        made = await http.post(
            "/api/v1/shift-handovers", json={"notes": "王奶奶家的门铃坏了，请打电话"}
        )
        assert made.status_code == 201, made.text
        handover = made.json()
        assert handover["areas"] == ["东城区"]
        assert [a["alert_id"] for a in handover["open_alerts"]] == [str(first), str(second)]
        assert [c["alert_id"] for c in handover["callbacks_due"]] == [str(first)]
        assert handover["acknowledged_by"] is None
        url = f"/api/v1/shift-handovers/{handover['id']}/acknowledge"
        own = await http.post(url)
        assert own.status_code == 409, own.text  # not by its author

    async with httpx.AsyncClient(base_url=server.http, headers=bearer(elsewhere)) as http:
        assert (await http.get("/api/v1/shift-handovers", params={"pending": "true"})).json() == []
        assert (await http.post(url)).status_code == 403
        desk = (await http.get("/api/v1/shift-handovers/now")).json()
        assert [a["alert_id"] for a in desk["open_alerts"]] == [str(west)]

    async with httpx.AsyncClient(base_url=server.http, headers=bearer(incoming)) as http:
        waiting = (await http.get("/api/v1/shift-handovers", params={"pending": "true"})).json()
        assert [h["id"] for h in waiting] == [handover["id"]]  # a street of its district
        taken = await http.post(url)
        assert taken.status_code == 200, taken.text
        assert taken.json()["acknowledged_by"] not in (None, handover["handed_by"])
        assert taken.json()["acknowledged_at"] is not None
        again = await http.post(url)
        assert again.status_code == 409
        unknown = await http.post(f"/api/v1/shift-handovers/{uuid.uuid4()}/acknowledge")
        assert unknown.status_code == 404
        assert (await http.get("/api/v1/shift-handovers", params={"pending": "true"})).json() == []

    async with httpx.AsyncClient(base_url=server.http, headers=bearer(supervisor)) as http:
        every = (await http.get("/api/v1/shift-handovers")).json()
        kept = next(h for h in every if h["id"] == handover["id"])
        assert kept["notes"] == "王奶奶家的门铃坏了，请打电话"
        assert kept["acknowledged_by"] == taken.json()["acknowledged_by"]
        assert str(closed) not in {a["alert_id"] for a in kept["open_alerts"]}
