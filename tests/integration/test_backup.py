"""The backup drill on a real database (SQLite and PostgreSQL): back up while the
record is there, restore into a fresh database, and every alert, order and audit
record is back, field for field; a restored database serves again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.store import backup
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, DeviceEvent, Order
from tests.conftest import _postgres_database
from tests.helpers import CENTER, seed_small_city


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of the same engine as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/restored.db"
    else:
        yield from _postgres_database(request.getfixturevalue("postgres_admin_url"))


def _record(db: Database) -> dict[str, list[dict[str, object]]]:
    with db.read() as session:
        return {
            table.__name__: [
                row.model_dump()
                for row in session.exec(select(table).order_by(table.id)).all()  # type: ignore[attr-defined]
            ]
            for table in (Alert, Order, AuditRecord, DeviceEvent)
        }


def _write_alerts(db: Database, n: int) -> None:
    city = seed_small_city(db)
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with db.session() as session:
        for i in range(n):
            alert = Alert(
                device_id=city.device_id,
                elder_id=city.elder_id,
                alert_type="help_button",
                severity="high",
                state=AlertState.RESOLVED if i % 2 else AlertState.ESCALATED,
                raised_at=at + timedelta(minutes=i),
                deadline_at=at + timedelta(minutes=i + 15),
                device_ts=at + timedelta(minutes=i),
                updated_at=at + timedelta(minutes=i + 30),
                lat=CENTER[0],
                lon=CENTER[1],
                escalation_reason=None if i % 2 else "everyone busy",
                district="东城区",
            )
            session.add(alert)
            session.flush()
            order = Order(
                alert_id=alert.id,
                caregiver_id=city.near_id,
                state=OrderState.COMPLETED if i % 2 else OrderState.EXPIRED,
                offered_at=alert.raised_at,
                expires_at=alert.raised_at + timedelta(seconds=30),
                updated_at=alert.updated_at,
                eta_s=300.0 + i,
                distance_m=1200.5,
            )
            session.add(order)
            session.flush()
            session.add(
                DeviceEvent(
                    device_id=city.device_id,
                    event_id=f"press-{i}",
                    type="press",
                    device_ts=alert.raised_at,
                    received_at=alert.raised_at,
                    alert_id=alert.id,
                )
            )
            for step, state in enumerate(["raised", "dispatching", "offered"]):
                session.add(
                    AuditRecord(
                        alert_id=alert.id,
                        order_id=order.id if step == 2 else None,
                        entity="alert",
                        from_state=None,
                        to_state=state,
                        actor="system:dispatcher",
                        at=alert.raised_at + timedelta(seconds=step),
                        detail={"reason": "nearest", "considered": [{"eta_s": 300.0 + i}]},
                        event={"type": f"alert.{state}", "who": "王秀英"},
                        published=True,
                    )
                )


def test_a_backup_restored_into_a_fresh_database_holds_every_record(
    db: Database, fresh_url: str, tmp_path: Path
) -> None:
    _write_alerts(db, 40)
    before = _record(db)
    assert [len(rows) for rows in before.values()] == [40, 40, 120, 40]

    target = backup.backup(db.engine.url.render_as_string(hide_password=False), tmp_path / "b")
    with db.session() as session:  # the live database goes on after the backup
        session.delete(session.exec(select(AuditRecord)).first())
    with pytest.raises(backup.BackupError, match="never overwrites"):
        backup.backup(db.engine.url.render_as_string(hide_password=False), target)

    backup.restore(target, fresh_url)
    restored = Database(fresh_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        restored.create_schema()  # what the server does at start: the schema is current
        assert _record(restored) == before
    finally:
        restored.dispose()
    # A database that holds a record is never restored over.
    with pytest.raises(backup.BackupError, match=r"fresh database|pg_restore failed"):
        backup.restore(target, fresh_url)
