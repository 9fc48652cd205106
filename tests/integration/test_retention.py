"""Pruning by age on a real database (SQLite and PostgreSQL): what is past its
retention goes, the care record and anything still open stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.store import partitions
from dispatch.store.db import Database
from dispatch.store.retention import RetentionPolicy, prune
from dispatch.store.tables import (
    ActionReply,
    Alert,
    AuditRecord,
    DeadLetter,
    DeviceEvent,
    Order,
    SessionToken,
    UserAccount,
)
from tests.helpers import CENTER, make_user, seed_small_city

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
POLICY = RetentionPolicy(
    device_events_days=14, dead_letters_days=90, sessions_days=7, records_years=10, batch_rows=2
)


def _alert(device_id: str, state: AlertState, at: datetime) -> Alert:
    return Alert(
        device_id=device_id,
        alert_type="help_button",
        severity="high",
        state=state,
        raised_at=at,
        deadline_at=at,
        device_ts=at,
        updated_at=at,
        lat=CENTER[0],
        lon=CENTER[1],
    )


def test_prune_keeps_the_record_and_drops_what_is_past_its_time(db: Database) -> None:
    city = seed_small_city(db)
    device = city.device_id
    days = lambda n: NOW - timedelta(days=n)  # noqa: E731
    old_closed = _alert(device, AlertState.RESOLVED, days(11 * 366))
    old_open = _alert(device, AlertState.ESCALATED, days(11 * 366))
    recent_closed = _alert(device, AlertState.RESOLVED, days(400))
    username = make_user(db, "operator")
    with db.session() as session:
        user_id = session.exec(select(UserAccount.id).where(UserAccount.username == username)).one()
    with db.session() as session:
        session.add_all([old_closed, old_open, recent_closed])
        session.flush()
        order = Order(
            alert_id=old_closed.id,
            caregiver_id=city.near_id,
            state=OrderState.COMPLETED,
            offered_at=days(11 * 366),
            expires_at=days(11 * 366),
            updated_at=days(11 * 366),
            eta_s=60,
            distance_m=300,
        )
        session.add(order)
        session.flush()
        for alert in (old_closed, old_open, recent_closed):
            session.add(
                AuditRecord(
                    alert_id=alert.id,
                    entity="alert",
                    from_state=None,
                    to_state="raised",
                    actor="device:x",
                    at=alert.raised_at,
                )
            )
        session.add(
            DeviceEvent(
                device_id=device,
                event_id="press-old",
                type="press",
                device_ts=days(11 * 366),
                received_at=days(11 * 366),
                alert_id=old_closed.id,
            )
        )
        for n, age in enumerate([30, 20, 15, 13, 1]):
            session.add(
                DeviceEvent(
                    device_id=device,
                    event_id=f"hb-{n}",
                    type="heartbeat",
                    device_ts=days(age),
                    received_at=days(age),
                )
            )
        session.add(
            DeviceEvent(
                device_id=device,
                event_id="press-open",
                type="press",
                device_ts=days(11 * 366),
                received_at=days(11 * 366),
                alert_id=old_open.id,
            )
        )
        for age in (120, 100, 10):
            session.add(
                DeadLetter(
                    received_at=days(age), topic="t", payload="{}", reason="invalid", detail=""
                )
            )
        for n, expired in enumerate([days(30), days(8), days(1), NOW + timedelta(hours=8)]):
            session.add(SessionToken(token_hash=f"{n:064d}", user_id=user_id, expires_at=expired))
        for n, age in enumerate([9, 1]):
            session.add(
                ActionReply(caregiver_id=city.near_id, ref=f"a{n}", reply={}, created_at=days(age))
            )

    deleted = prune(db, POLICY, NOW)

    assert deleted == {
        "device_event": 3,
        "dead_letter": 2,
        "session_token": 2,
        "action_reply": 1,
        "audit_record": 1,
        "order": 1,
        "voice_call": 0,
        "handover": 0,
        "alert": 1,
    }
    with db.session() as session:
        alerts = set(session.exec(select(Alert.id)).all())
        assert alerts == {old_open.id, recent_closed.id}  # open is kept, however old
        assert session.exec(select(Order)).all() == []
        audited = set(session.exec(select(AuditRecord.alert_id)).all())
        assert audited == {old_open.id, recent_closed.id}
        events = set(session.exec(select(DeviceEvent.event_id)).all())
        # The old press outlived its alert only until the next prune.
        assert events == {"hb-3", "hb-4", "press-open", "press-old"}
        orphaned = session.exec(
            select(DeviceEvent).where(DeviceEvent.event_id == "press-old")
        ).one()
        assert orphaned.alert_id is None
        assert len(session.exec(select(DeadLetter)).all()) == 1
        kept = session.exec(select(SessionToken).order_by(col(SessionToken.token_hash))).all()
        assert [t.token_hash[-1] for t in kept] == ["2", "3"]
        assert session.get(UserAccount, user_id) is not None

    assert prune(db, POLICY, NOW)["device_event"] == 1  # press-old, now that it is alone
    assert prune(db, POLICY, NOW) == dict.fromkeys(deleted, 0)


def test_on_postgresql_past_days_of_device_events_are_dropped_whole(postgres_url: str) -> None:
    """Device events live in day partitions; pruning drops the past days, moving
    the events of alerts aside first, and the idempotence key holds across a
    redelivery days later."""
    db = Database(postgres_url)
    try:
        _past_days_dropped_whole(db)
    finally:
        db.dispose()


def _past_days_dropped_whole(db: Database) -> None:
    db.create_schema()
    city = seed_small_city(db)
    device = city.device_id
    today = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    days = lambda n: today - timedelta(days=n)  # noqa: E731
    with db.engine.begin() as connection:
        assert partitions.is_partitioned(connection)
        partitions.ensure_days(connection, days(20).date(), today.date())
    open_alert = _alert(device, AlertState.ESCALATED, days(20))
    with db.session() as session:
        session.add(open_alert)
        session.flush()
        for age in (20, 16, 15, 13, 1):
            session.add(
                DeviceEvent(
                    device_id=device,
                    event_id=f"hb-{age}",
                    type="heartbeat",
                    device_ts=days(age),
                    received_at=days(age),
                )
            )
        session.add(
            DeviceEvent(
                device_id=device,
                event_id="press",
                type="press",
                device_ts=days(20),
                received_at=days(20),
                alert_id=open_alert.id,
            )
        )
    with db.engine.connect() as connection:
        where = connection.execute(
            text("SELECT event_id, tableoid::regclass::text FROM device_event")
        ).all()
    assert dict(where)["hb-16"] == partitions.partition_name(days(16).date())

    # A redelivery of an event six days later, its device's time unchanged, meets
    # its first copy in the same day's partition: the unique key refuses it.
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(
            DeviceEvent(
                device_id=device,
                event_id="hb-13",
                type="heartbeat",
                device_ts=days(13),
                received_at=days(7),
            )
        )

    policy = RetentionPolicy(device_events_days=14, batch_rows=2)
    with db.engine.begin() as connection:  # autovacuum would, on a day's millions
        connection.execute(text("ANALYZE device_event"))
    deleted = prune(db, policy, today)
    assert deleted["device_event"] == 3  # hb-20, hb-16, hb-15 (the planner's count)
    with db.engine.connect() as connection:
        left = dict(
            connection.execute(
                text("SELECT event_id, tableoid::regclass::text FROM device_event")
            ).all()
        )
        day_names = set(partitions.days(connection).values())
    assert set(left) == {"hb-13", "hb-1", "press"}
    assert left["press"] == partitions.KEPT  # its alert is open: kept, aside
    assert partitions.partition_name(days(15).date()) not in day_names
    assert partitions.partition_name(days(13).date()) in day_names
    # Days ahead exist, so tomorrow's heartbeats never wait for a partition.
    assert partitions.partition_name((today + timedelta(days=7)).date()) in day_names
    # Pruning again finds nothing more: idempotent.
    assert prune(db, policy, today)["device_event"] == 0
