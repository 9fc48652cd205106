"""What the record keeps, and for how long: pruning by age, in small batches.

Device events that raised nothing (heartbeats, telemetry, status) are kept only
as long as a device may send one again (the idempotence window: the broker keeps
an offline gateway's queue for days); refused messages and finished log-in
sessions a little while; alerts with their orders, audit trail, calls and the
events that raised them for years, as the care record the law asks for. An
alert still open is never pruned, however old.

Each batch is one short transaction, so pruning never holds the database for
long: on SQLite every writer waits for the one write lock. On PostgreSQL device
events are partitioned by day and a past day is dropped whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import delete, text, update
from sqlmodel import Session, col, select

from dispatch.domain.lifecycle import OPEN_ALERT_STATES
from dispatch.store import partitions
from dispatch.store.db import Database
from dispatch.store.tables import (
    ActionReply,
    Alert,
    AuditRecord,
    DeadLetter,
    DeviceEvent,
    Handover,
    Order,
    SessionToken,
    Visit,
    VoiceCall,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    device_events_days: float = 14.0
    dead_letters_days: float = 90.0
    sessions_days: float = 7.0  # after they expired
    records_years: float = 10.0  # closed alerts, their orders, audit records, calls
    batch_rows: int = 5_000

    def __post_init__(self) -> None:
        for name in ("device_events_days", "dead_letters_days", "sessions_days", "records_years"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")


def prune(db: Database, policy: RetentionPolicy, now: datetime) -> dict[str, int]:
    """Delete what is past its retention; return the rows deleted per table.

    Call on the database's thread pool (it blocks); safe to run in several
    processes at once (each batch deletes what is still there).
    """
    deleted = {
        "device_event": _prune_device_events(
            db, now, now - timedelta(days=policy.device_events_days), policy.batch_rows
        ),
        "dead_letter": _prune_by_id(
            db,
            DeadLetter,
            (col(DeadLetter.received_at) < now - timedelta(days=policy.dead_letters_days),),
            policy.batch_rows,
        ),
        "session_token": _prune_sessions(
            db, now - timedelta(days=policy.sessions_days), policy.batch_rows
        ),
        # An app retries an action within its session: its answer is kept as long.
        "action_reply": _prune_replies(db, now - timedelta(days=policy.sessions_days)),
    }
    deleted.update(
        _prune_records(db, now - timedelta(days=365.25 * policy.records_years), policy.batch_rows)
    )
    if any(deleted.values()):
        log.info("pruned %s", ", ".join(f"{n} {t}" for t, n in deleted.items() if n))
    return deleted


def _prune_device_events(db: Database, now: datetime, before: datetime, batch: int) -> int:
    """SQLite: the batched DELETE. PostgreSQL: whole days dropped (their alerts'
    events kept aside first), then the batched DELETE in the kept partition only
    (dispatch/store/partitions.py)."""
    if db.engine.dialect.name != "postgresql":
        return _prune_by_id(
            db,
            DeviceEvent,
            (col(DeviceEvent.alert_id).is_(None), col(DeviceEvent.received_at) < before),
            batch,
        )
    today = now.astimezone(UTC).date()
    with db.session() as session:  # the days ahead, should the server have been away
        partitions.ensure_days(session.connection(), today, today)
    with db.session() as session:  # one short transaction: a few catalogue changes
        dropped_days, dropped = partitions.drop_days_before(
            session.connection(), before.astimezone(UTC).date()
        )
    if dropped_days:
        log.info("dropped %d days of device events (about %d rows)", dropped_days, dropped)
    return dropped + _prune_kept(db, before, batch)


def _prune_kept(db: Database, before: datetime, batch: int) -> int:
    """Events past their time in the default partition: old alerts' events once
    their alert is gone, and days that had no partition of their own."""
    total = 0
    kept = partitions.KEPT
    statement = text(
        f"DELETE FROM {kept} WHERE id IN (SELECT id FROM {kept} "
        "WHERE alert_id IS NULL AND received_at < :before LIMIT :batch)"
    )
    while True:
        with db.session() as session:
            result = session.execute(statement, {"before": before, "batch": batch})
            deleted = int(getattr(result, "rowcount", 0) or 0)
        total += deleted
        if deleted < batch:
            return total


def _prune_by_id(db: Database, table: Any, where: tuple[Any, ...], batch: int) -> int:
    total = 0
    while True:
        with db.session() as session:
            # One statement a batch: the ids never travel to Python and back.
            due = select(table.id).where(*where).limit(batch).scalar_subquery()
            deleted = _delete(session, table, col(table.id).in_(due))
        total += deleted
        if deleted < batch:
            return total


def _prune_sessions(db: Database, expired_before: datetime, batch: int) -> int:
    total = 0
    while True:
        with db.session() as session:
            hashes = session.exec(
                select(SessionToken.token_hash)
                .where(col(SessionToken.expires_at) < expired_before)
                .limit(batch)
            ).all()
            if hashes:
                _delete(session, SessionToken, col(SessionToken.token_hash).in_(hashes))
        total += len(hashes)
        if len(hashes) < batch:
            return total


def _prune_replies(db: Database, before: datetime) -> int:
    with db.session() as session:  # a few rows per order: one statement does
        return _delete(session, ActionReply, col(ActionReply.created_at) < before)


def _prune_records(db: Database, closed_before: datetime, batch: int) -> dict[str, int]:
    """Closed alerts last changed before ``closed_before``, with everything that
    points at them (children first: the foreign keys)."""
    totals = dict.fromkeys(("audit_record", "order", "voice_call", "handover", "alert"), 0)
    while True:
        with db.session() as session:
            alert_ids: list[UUID] = list(
                session.exec(
                    select(Alert.id)
                    .where(
                        col(Alert.state).not_in(OPEN_ALERT_STATES),
                        col(Alert.updated_at) < closed_before,
                    )
                    .limit(batch)
                ).all()
            )
            if alert_ids:
                totals["audit_record"] += _delete(
                    session, AuditRecord, col(AuditRecord.alert_id).in_(alert_ids)
                )
                totals["voice_call"] += _delete(
                    session, VoiceCall, col(VoiceCall.alert_id).in_(alert_ids)
                )
                totals["handover"] += _delete(
                    session, Handover, col(Handover.alert_id).in_(alert_ids)
                )
                session.execute(
                    update(DeviceEvent)
                    .where(col(DeviceEvent.alert_id).in_(alert_ids))
                    .values(alert_id=None)  # pruned with the other device events, later
                )
                session.execute(
                    update(Visit).where(col(Visit.alert_id).in_(alert_ids)).values(alert_id=None)
                )
                totals["order"] += _delete(session, Order, col(Order.alert_id).in_(alert_ids))
                totals["alert"] += _delete(session, Alert, col(Alert.id).in_(alert_ids))
        if len(alert_ids) < batch:
            return totals


def _delete(session: Session, table: Any, where: Any) -> int:
    result = session.execute(delete(table).where(where))
    return int(getattr(result, "rowcount", 0) or 0)
