"""What a day of a 20,000-device fleet writes, table by table, and what retention keeps.

    .venv/bin/python bench/retention.py                 # SQLite, the full fleet
    .venv/bin/python bench/retention.py --devices 2000  # a smaller day
    .venv/bin/python bench/retention.py --database-url postgresql://postgres@127.0.0.1/bench

A simulated day is written with the rows the server writes: every device
heart-beats every 5 minutes (a ``device_event`` each), 0.5 % of elders press once
(an alert, its order, eight audit records), 0.1 % of messages are refused (a
dead letter), and 300 staff log in (a session each). The bytes of each table,
its indexes included, are read from the database itself (SQLite's ``dbstat``,
PostgreSQL's ``pg_total_relation_size``).

Then the same day is written again dated 15 days back and pruned with the
default policy; the run prints the rows a day adds, their bytes, the size each
table reaches after a year without pruning (the "before") and with the default
retention (the "after"), and how fast pruning deletes, beside a single
unbatched ``DELETE`` of the same rows measured in the same run (the baseline).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import MetaData, Table, create_engine, delete, func, insert, text
from sqlmodel import col, select

from config.settings import Settings
from dispatch.domain.access import Role
from dispatch.registry import accounts
from dispatch.store import migrate, partitions
from dispatch.store.db import Database
from dispatch.store.retention import RetentionPolicy, _prune_by_id, prune
from dispatch.store.tables import (
    Alert,
    AuditRecord,
    Caregiver,
    DeadLetter,
    Device,
    DeviceEvent,
    Order,
    SessionToken,
    UserAccount,
)

TABLES = ["device_event", "audit_record", "alert", "order", "dead_letter", "session_token"]
HEARTBEAT_S = 300
PRESS_SHARE, REFUSED_SHARE, STAFF = 0.005, 0.001, 300
KEPT_DAYS = {"device_event": 14, "dead_letter": 90, "session_token": 7 + 1}  # else 10 years


def simulate_day(db: Database, devices: list[str], day: datetime, rng: random.Random) -> None:
    beats = 86_400 // HEARTBEAT_S
    with db.engine.begin() as conn:
        events = Table("device_event", MetaData(), autoload_with=conn)
        filed = "event_day" in events.c  # revision 0021 on; the baseline has none
        rows: list[dict[str, Any]] = []
        for n in range(beats):
            at = day + timedelta(seconds=n * HEARTBEAT_S)
            for device in devices:
                rows.append(
                    {
                        "device_id": device,
                        "event_id": uuid.uuid4().hex,
                        "type": "heartbeat",
                        "device_ts": at,
                        "received_at": at,
                        "alert_id": None,
                        **({"event_day": at.date()} if filed else {}),
                    }
                )
            if len(rows) >= 50_000:
                conn.execute(insert(events), rows)
                rows.clear()
        if rows:
            conn.execute(insert(events), rows)
        pressed = rng.sample(devices, max(1, int(len(devices) * PRESS_SHARE)))
        caregiver = conn.execute(select(Caregiver.id).limit(1)).scalar_one()
        for device in pressed:
            at = day + timedelta(seconds=rng.randrange(86_400))
            alert_id, order_id = uuid.uuid4(), uuid.uuid4()
            conn.execute(
                insert(Alert),
                [
                    {
                        "id": alert_id,
                        "device_id": device,
                        "alert_type": "help_button",
                        "severity": "high",
                        "state": "resolved",
                        "raised_at": at,
                        "deadline_at": at + timedelta(minutes=15),
                        "device_ts": at,
                        "updated_at": at + timedelta(minutes=40),
                        "lat": 30.27,
                        "lon": 120.15,
                        "district": "东城区",
                    }
                ],
            )
            conn.execute(
                insert(Order),
                [
                    {
                        "id": order_id,
                        "alert_id": alert_id,
                        "caregiver_id": caregiver,
                        "state": "completed",
                        "offered_at": at,
                        "expires_at": at + timedelta(seconds=30),
                        "updated_at": at + timedelta(minutes=40),
                        "eta_s": 420.0,
                        "distance_m": 1800.0,
                    }
                ],
            )
            conn.execute(
                insert(events),
                [
                    {
                        "device_id": device,
                        "event_id": uuid.uuid4().hex,
                        "type": "press",
                        "device_ts": at,
                        "received_at": at,
                        "alert_id": alert_id,
                        **({"event_day": at.date()} if filed else {}),
                    }
                ],
            )
            steps = [
                "raised",
                "dispatching",
                "offered",
                "accepted",
                "en_route",
                "on_scene",
                "resolved",
                "resolved",  # the order's completion beside it
            ]
            conn.execute(
                insert(AuditRecord),
                [
                    {
                        "alert_id": alert_id,
                        "order_id": order_id if i >= 2 else None,
                        "caregiver_id": caregiver if i >= 2 else None,
                        "entity": "alert",
                        "from_state": steps[i - 1] if i else None,
                        "to_state": state,
                        "actor": f"device:{device}" if i == 0 else "system:dispatcher",
                        "at": at + timedelta(minutes=i),
                        "detail": {"reason": "nearest on shift", "considered": [{"eta_s": 420}]},
                        "event": {"v": 1, "type": f"alert.{state}", "alert_id": str(alert_id)},
                        "published": True,
                    }
                    for i, state in enumerate(steps)
                ],
            )
        refused = int(len(devices) * beats * REFUSED_SHARE)
        conn.execute(
            insert(DeadLetter),
            [
                {
                    "received_at": day + timedelta(seconds=rng.randrange(86_400)),
                    "topic": f"carebell/v1/devices/{rng.choice(devices)}/events",
                    "payload": '{"event_id":"x","type":"heartbeat","ts":"not a time"}',
                    "reason": "invalid",
                    "detail": "ts: Input should be a valid datetime",
                }
                for _ in range(refused)
            ],
        )
        user = conn.execute(select(UserAccount.id).limit(1)).scalar_one()
        conn.execute(
            insert(SessionToken),
            [
                {
                    "token_hash": uuid.uuid4().hex + uuid.uuid4().hex,
                    "user_id": user,
                    "expires_at": day + timedelta(hours=12),
                }
                for _ in range(STAFF)
            ],
        )


def sizes(db: Database) -> dict[str, tuple[int, int]]:
    """Rows and bytes (indexes included) of each table."""
    out = {}
    with db.engine.connect() as conn:
        for table in TABLES:
            rows = conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
            if db.engine.dialect.name == "sqlite":
                conn.commit()
                size = conn.execute(
                    text(
                        "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = :t OR name IN"
                        " (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t)"
                    ),
                    {"t": table},
                ).scalar_one()
            else:  # a partitioned table's bytes are its partitions'
                size = conn.execute(
                    text(
                        "SELECT pg_total_relation_size(CAST(:t AS regclass)) + coalesce(("
                        "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
                        " WHERE inhparent = CAST(:t AS regclass)), 0)"
                    ),
                    {"t": f'"{table}"'},
                ).scalar_one()
            out[table] = (int(rows), int(size))
    return out


def seed(db: Database, n: int) -> list[str]:
    devices = [f"pb-{i:05d}" for i in range(n)]
    with db.engine.begin() as conn:
        conn.execute(insert(Device), [{"id": d, "kind": "panic_button"} for d in devices])
    with db.session() as session:
        session.add(
            Caregiver(
                name="bench",
                skills=["basic_care"],
                shift_start=dtime(0, 0),
                shift_end=dtime(23, 59),
                home_lat=30.27,
                home_lon=120.15,
            )
        )
    accounts.create_user(db, "bench", "bench-password-1", Role.OPERATOR)
    return devices


def _fresh_database(admin_url: str, name: str) -> str:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def compare_postgres(admin_url: str, n: int) -> None:
    """Before (revision 0020: one device_event table, pruned by batched DELETE)
    and after (day partitions, pruned by DROP), side by side in one run."""
    now = datetime(2026, 12, 2, tzinfo=UTC)
    old_day = now - timedelta(days=15)
    measured: dict[str, dict[str, tuple[int, int]]] = {}
    prune_s: dict[str, tuple[float, int]] = {}
    for label in ("before", "after"):
        rng = random.Random(7)
        url = _fresh_database(admin_url, f"bench_retention_{label}")
        db = Database(url)
        if label == "before":
            with db.engine.begin() as conn:
                command.upgrade(migrate.config(conn), "0020")
        else:
            db.create_schema()
            with db.engine.begin() as conn:
                partitions.ensure_days(conn, old_day.date(), now.date())
        devices = seed(db, n)
        simulate_day(db, devices, now - timedelta(days=1), rng)
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        measured[label] = sizes(db)
        simulate_day(db, devices, old_day, rng)
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE device_event"))
            due = conn.execute(
                text(
                    "SELECT count(*) FROM device_event WHERE alert_id IS NULL"
                    " AND received_at < :old"
                ),
                {"old": now - timedelta(days=14)},
            ).scalar_one()
        started = time.perf_counter()
        if label == "before":  # what retention did on PostgreSQL until now
            _prune_by_id(
                db,
                DeviceEvent,
                (
                    col(DeviceEvent.alert_id).is_(None),
                    col(DeviceEvent.received_at) < now - timedelta(days=14),
                ),
                RetentionPolicy().batch_rows,
            )
        else:
            prune(db, RetentionPolicy(), now)
        prune_s[label] = (time.perf_counter() - started, int(due))
        with db.engine.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM device_event WHERE received_at < :old"),
                {"old": now - timedelta(days=14)},
            ).scalar_one()
        print(f"# {label}: {left} device events older than 14 days left (their alerts')")
        db.dispose()
    print(f"# {n} devices, postgresql, load {os.getloadavg()[0]:.1f}")
    print()
    print("| table | rows/day | before: MB/day | after: MB/day |")
    print("|---|---:|---:|---:|")
    for table in TABLES:
        rows, before = measured["before"][table]
        _, after = measured["after"][table]
        print(f"| {table} | {rows:,} | {before / 1e6:.1f} | {after / 1e6:.1f} |")
    (before_s, due), (after_s, _) = prune_s["before"], prune_s["after"]
    print()
    print(
        f"pruning one day of device events ({due:,} rows): before, batched DELETE"
        f" {before_s:.1f} s; after, DROP of its partition {after_s:.2f} s;"
        f" load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--postgres-admin-url",
        default="",
        help="compare PostgreSQL before and after partitioning, in databases made here",
    )
    args = parser.parse_args()
    if args.postgres_admin_url:
        compare_postgres(args.postgres_admin_url, args.devices)
        return
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = Database(Settings(database_url=url).database_url)
        db.create_schema()
        devices = seed(db, args.devices)
        now = datetime(2026, 12, 2, tzinfo=UTC)
        started = time.perf_counter()
        simulate_day(db, devices, now - timedelta(days=1), rng)
        written_s = time.perf_counter() - started
        one_day = sizes(db)
        print(f"# {args.devices} devices, {db.engine.dialect.name}, load {os.getloadavg()[0]:.1f}")
        print(f"one simulated day written in {written_s:.1f} s")
        print()
        print("| table | rows/day | MB/day | a year unpruned (MB) | kept with retention (MB) |")
        print("|---|---:|---:|---:|---:|")
        for table in TABLES:
            rows, size = one_day[table]
            kept_days = KEPT_DAYS.get(table, 365)  # records: ten years, so a year is all of it
            mb = size / 1e6
            print(f"| {table} | {rows:,} | {mb:.1f} | {mb * 365:,.0f} | {mb * kept_days:,.0f} |")

        # A day past the device events' retention, pruned in batches ...
        simulate_day(db, devices, now - timedelta(days=15), rng)
        old = now - timedelta(days=14)
        with db.session() as session:
            due = session.exec(
                select(func.count())
                .select_from(DeviceEvent)
                .where(col(DeviceEvent.alert_id).is_(None), col(DeviceEvent.received_at) < old)
            ).one()
        started = time.perf_counter()
        deleted = prune(db, RetentionPolicy(), now)
        batched_s = time.perf_counter() - started
        # ... and the same again as one unbatched DELETE (the baseline).
        simulate_day(db, devices, now - timedelta(days=15), rng)
        started = time.perf_counter()
        with db.session() as session:
            session.execute(
                delete(DeviceEvent).where(
                    col(DeviceEvent.alert_id).is_(None), col(DeviceEvent.received_at) < old
                )
            )
        single_s = time.perf_counter() - started
        print()
        print(
            f"pruning one day of device events ({due:,} rows, {deleted['device_event']:,}"
            f" deleted): batches of 5,000 {batched_s:.1f} s ({due / batched_s:,.0f} rows/s);"
            f" one DELETE (baseline, holds the write lock throughout) {single_s:.1f} s"
            f" ({due / single_s:,.0f} rows/s); load {os.getloadavg()[0]:.1f}"
        )
        db.dispose()


if __name__ == "__main__":
    main()
