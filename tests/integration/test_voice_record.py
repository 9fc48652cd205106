"""Calls on the record, on SQLite and PostgreSQL: a restarted server ends the calls
it left open, and only those."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, VoiceCall
from dispatch.voice.record import close_stale_calls
from tests.helpers import CENTER, seed_small_city

ME, OTHER = "gw-me", "gw-other"


def _alert(db: Database) -> uuid.UUID:
    city = seed_small_city(db)
    now = datetime.now(UTC)
    with db.session() as session:
        alert = Alert(
            device_id=city.device_id,
            elder_id=city.elder_id,
            alert_type="help_button",
            severity="high",
            raised_at=now,
            deadline_at=now + timedelta(minutes=15),
            device_ts=now,
            updated_at=now,
            lat=CENTER[0],
            lon=CENTER[1],
            district="东城区",
        )
        session.add(alert)
        return alert.id


def _call(
    db: Database, alert_id: uuid.UUID | None, served_by: str | None, **kw: object
) -> uuid.UUID:
    started = datetime.now(UTC) - timedelta(minutes=5)
    call = VoiceCall(
        id=uuid.uuid4(),
        alert_id=alert_id,
        host="op-1",
        parties=["device:x"],
        started_at=started,
        served_by=served_by,
        **kw,  # type: ignore[arg-type]
    )
    with db.session() as session:
        session.add(call)
    return call.id


def test_a_server_ends_its_own_open_calls_and_leaves_the_rest(db: Database) -> None:
    alert_id = _alert(db)
    started = datetime.now(UTC) - timedelta(minutes=5)
    mine = _call(db, alert_id, ME, answered_at=started + timedelta(seconds=2))
    unnamed = _call(db, None, None)  # written before calls named their server
    others = _call(db, alert_id, OTHER)
    over = _call(db, alert_id, ME, ended_at=started + timedelta(seconds=40), end_reason="hung_up")
    at = datetime.now(UTC)

    ended = close_stale_calls(db, ME, at)

    assert sorted(ended) == sorted([mine, unnamed])
    with db.session() as session:
        rows = {c.id: c for c in session.exec(select(VoiceCall)).all()}
        steps = list(
            session.exec(select(AuditRecord).where(AuditRecord.action == "call_ended")).all()
        )
    assert rows[mine].end_reason == "server_restart"
    assert rows[mine].ended_at is not None
    assert abs((rows[mine].ended_at - at).total_seconds()) < 1
    assert rows[unnamed].end_reason == "server_restart"
    assert rows[others].ended_at is None
    assert rows[over].end_reason == "hung_up"
    # Only the call about an alert goes on a timeline; how long they talked is unknown.
    (step,) = steps
    assert step.alert_id == alert_id
    assert step.detail["call_id"] == str(mine)
    assert step.detail["end_reason"] == "server_restart"
    assert step.detail["talk_s"] is None
    # A second start finds nothing left to end.
    assert close_stale_calls(db, ME, datetime.now(UTC)) == []
