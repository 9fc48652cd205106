"""device_event by day on PostgreSQL: pruning drops whole days instead of deleting rows.

``device_event`` is 99.9 % of the rows the database writes (a 20,000-device
fleet's heartbeats, 5.8 million a day; docs/operations.md, "Retention"). On
PostgreSQL it is a table partitioned by range of ``event_day``, one partition a
day, and a past day is detached and dropped in one short transaction; SQLite
keeps one table and its batched ``DELETE`` (dispatch/store/retention.py).

The idempotence key. A partitioned table enforces only unique keys that hold
the partition column, so the key is ``(device_id, event_id, event_day)``, and
``event_day`` is made the same for every delivery of one event: the day of the
time the device stamped on it, which a redelivery repeats, clamped to within
WINDOW_DAYS before its receipt and a day after it (a clock gone
wild then lands in a partition that exists). An event delivered again, however
late within the window, therefore meets its first copy in the same partition
and the unique key refuses it, even from another process at the same instant.
Only a device whose clock is off by more than the window can have a second
delivery land on another day; the ingest's read of what is stored
(``ingest._stored``, over every partition) still catches any that is not
concurrent.

Events that raised or joined an alert are part of the care record and kept for
years: before a day is dropped they move to the ``device_event_kept`` partition
(the default one, which takes every day without a partition of its own), where
the batched ``DELETE`` prunes them once their alert is gone.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

log = logging.getLogger(__name__)

TABLE = "device_event"
KEPT = "device_event_kept"  # the default partition
UNIQUE = "device_event_once"  # (device_id, event_id, event_day)
DAYS_AHEAD = 7  # partitions made ahead, so a day never starts without its own
# Longer than any redelivery: the broker keeps an offline gateway's queue 7 days
# (CAREBELL_MQTT_SESSION_EXPIRY_S) and a device republishes within minutes.
WINDOW_DAYS = 31
_DAY_NAME = re.compile(rf"^{TABLE}_(\d{{8}})$")
_LOCK_KEY = 0x44415953  # "DAYS": one process at a time changes the partitions


def _one_at_a_time(connection: Connection) -> None:
    """Several processes run retention: the second waits, then sees the first's
    work (held to the end of the transaction)."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def event_day(device_ts: datetime, received_at: datetime) -> date:
    """The day an event is kept under: its device's day, clamped to
    [receipt - WINDOW_DAYS, receipt + 1 day] (UTC)."""
    received = received_at.astimezone(UTC) if received_at.tzinfo else received_at
    earliest = (received - timedelta(days=WINDOW_DAYS)).date()
    latest = (received + timedelta(days=1)).date()
    try:
        stamped = device_ts.astimezone(UTC).date() if device_ts.tzinfo else device_ts.date()
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past the last UTC day
        return latest if device_ts.year > 1 else earliest
    return min(max(stamped, earliest), latest)


def partition_name(day: date) -> str:
    return f"{TABLE}_{day:%Y%m%d}"


def is_partitioned(connection: Connection) -> bool:
    return bool(
        connection.execute(
            text(
                "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                "WHERE c.relname = :t AND c.relnamespace = 'public'::regnamespace"
            ),
            {"t": TABLE},
        ).first()
    )


def convert(connection: Connection, today: date) -> None:
    """Turn a plain device_event (the tables as SQLModel declares them, or an
    older database's) into the partitioned one, its rows with it. Idempotent."""
    if connection.dialect.name != "postgresql" or is_partitioned(connection):
        return
    connection.execute(text(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_plain"))
    # Index names are the schema's: free the ones the new table takes.
    for index in (f"{TABLE}_pkey", f"ix_{TABLE}_received_at", f"ix_{TABLE}_alert"):
        connection.execute(text(f"ALTER INDEX IF EXISTS {index} RENAME TO {index}_plain"))
    connection.execute(
        text(f"""
        CREATE TABLE {TABLE} (
            id INTEGER NOT NULL DEFAULT nextval('{TABLE}_id_seq'),
            device_id VARCHAR NOT NULL REFERENCES device (id),
            event_id VARCHAR(128) NOT NULL,
            type VARCHAR NOT NULL,
            device_ts TIMESTAMP WITH TIME ZONE NOT NULL,
            received_at TIMESTAMP WITH TIME ZONE NOT NULL,
            alert_id UUID REFERENCES alert (id),
            event_day DATE NOT NULL,
            CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, event_day),
            CONSTRAINT {UNIQUE} UNIQUE (device_id, event_id, event_day)
        ) PARTITION BY RANGE (event_day)""")
    )
    connection.execute(text(f"CREATE INDEX ix_{TABLE}_received_at ON {TABLE} (received_at)"))
    # The few events of alerts: moved aside before their day is dropped, and
    # unlinked when their alert is pruned, both without reading the whole day.
    connection.execute(
        text(f"CREATE INDEX ix_{TABLE}_alert ON {TABLE} (alert_id) WHERE alert_id IS NOT NULL")
    )
    connection.execute(text(f"CREATE TABLE {KEPT} PARTITION OF {TABLE} DEFAULT"))
    connection.execute(text(f"ALTER SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id"))
    first = connection.execute(
        text(f"SELECT min(received_at) FROM {TABLE}_plain WHERE alert_id IS NULL")
    ).scalar()
    start = (
        max(first.astimezone(UTC).date(), today - timedelta(days=WINDOW_DAYS + 1))
        if first is not None
        else today
    )
    ensure_days(connection, start, today)
    connection.execute(
        text(f"""
        INSERT INTO {TABLE} (id, device_id, event_id, type, device_ts, received_at,
                             alert_id, event_day)
        SELECT id, device_id, event_id, type, device_ts, received_at, alert_id,
               LEAST(GREATEST((device_ts AT TIME ZONE 'UTC')::date,
                              ((received_at AT TIME ZONE 'UTC')
                               - make_interval(days => :window))::date),
                     ((received_at AT TIME ZONE 'UTC') + interval '1 day')::date)
        FROM {TABLE}_plain"""),
        {"window": WINDOW_DAYS},
    )
    connection.execute(text(f"DROP TABLE {TABLE}_plain"))
    log.info("device_event is now partitioned by day")


def days(connection: Connection) -> dict[date, str]:
    """The day partitions there are, by day."""
    rows = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t"
        ),
        {"t": TABLE},
    )
    found = {}
    for (name,) in rows:
        match = _DAY_NAME.match(name)
        if match:
            found[datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return found


def ensure_days(connection: Connection, first: date, today: date) -> list[date]:
    """Make the partitions of ``first`` .. ``today`` + DAYS_AHEAD that are missing.
    A day whose rows already sit in the default partition (the server was away
    when it began) keeps them there: the batched DELETE prunes them."""
    _one_at_a_time(connection)
    have = days(connection)
    made = []
    day = first
    while day <= today + timedelta(days=DAYS_AHEAD):
        if day not in have:
            end = day + timedelta(days=1)
            try:
                with connection.begin_nested():  # DDL takes no parameters: dates inline
                    connection.execute(
                        text(
                            f"CREATE TABLE {partition_name(day)} PARTITION OF {TABLE} "
                            f"FOR VALUES FROM ('{day.isoformat()}') TO ('{end.isoformat()}')"
                        )
                    )
                made.append(day)
            except IntegrityError as exc:  # rows of that day in the default partition
                log.warning("no partition for %s: %s", day, exc.orig)
        day += timedelta(days=1)
    return made


def drop_days_before(connection: Connection, cutoff: date) -> tuple[int, int]:
    """Drop the day partitions wholly before ``cutoff``, their alert-bound events
    moved to the kept partition first; return (days dropped, rows dropped)."""
    _one_at_a_time(connection)
    dropped_days = dropped_rows = 0
    for day, name in sorted(days(connection).items()):
        if day >= cutoff:
            break
        connection.execute(text(f"ALTER TABLE {TABLE} DETACH PARTITION {name}"))
        # The day no longer has a partition: these rows go to the default one.
        moved = connection.execute(
            text(f"INSERT INTO {TABLE} SELECT * FROM {name} WHERE alert_id IS NOT NULL")
        ).rowcount
        # The planner's estimate: counting would read the whole day again.
        rows = connection.execute(
            text("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE relname = :n"),
            {"n": name},
        ).scalar_one()
        connection.execute(text(f"DROP TABLE {name}"))
        dropped_days += 1
        dropped_rows += max(0, int(rows) - moved)
    return dropped_days, dropped_rows
