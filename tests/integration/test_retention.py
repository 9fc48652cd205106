"""Pruning by age on a real database (SQLite and PostgreSQL): what is past its
retention goes, the care record and anything still open stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from dispatch.domain.lifecycle import AlertState, OrderState
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
