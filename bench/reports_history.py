"""How long a page and an export of the alert history take on a year of alerts.

    .venv/bin/python bench/reports_history.py                  # SQLite, 50,000 alerts
    .venv/bin/python bench/reports_history.py --alerts 5000
    .venv/bin/python bench/reports_history.py --database-url postgresql://postgres@127.0.0.1/bench

Writes ``--alerts`` closed alerts over 365 days in 8 districts, each with an order
and four audit records (accepted, on scene, completed, resolved), then times the
history's first page (no filter; one district; late alerts only) and a one-month
export, beside the same run's baseline: the plain newest-first page of alerts the
board's list reads (``GET /api/v1/alerts``), which joins nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import col, select

from dispatch.domain.access import Principal, Role
from dispatch.store.alert_history import AlertFilter, alert_history
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, Caregiver, Order

DISTRICTS = [f"区{i}" for i in range(8)]


def seed(db: Database, n: int) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    carer = Caregiver(
        name="bench",
        skills=[],
        shift_start=dtime(0, 0),
        shift_end=dtime(23, 59),
        transport="ebike",
        home_lat=30.0,
        home_lon=120.0,
    )
    with db.session() as session:
        session.add(carer)
    alerts, orders, audits = [], [], []
    for _ in range(n):
        raised = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        alert_id, order_id = uuid.uuid4(), uuid.uuid4()
        arrive = rng.uniform(300, 1500)  # a share arrive after the 15-minute deadline
        alerts.append(
            {
                "id": alert_id,
                "alert_type": "help_button",
                "severity": "high",
                "state": "resolved",
                "raised_at": raised,
                "deadline_at": raised + timedelta(minutes=15),
                "device_ts": raised,
                "updated_at": raised,
                "lat": 30.0,
                "lon": 120.0,
                "district": rng.choice(DISTRICTS),
                "acknowledged_by": f"op{rng.randrange(20)}",
                "acknowledged_at": raised + timedelta(seconds=rng.uniform(5, 90)),
                "closure_code": "needed_help",
            }
        )
        orders.append(
            {
                "id": order_id,
                "alert_id": alert_id,
                "caregiver_id": carer.id,
                "state": "completed",
                "offered_at": raised,
                "expires_at": raised + timedelta(seconds=60),
                "updated_at": raised,
                "eta_s": 300.0,
                "distance_m": 900.0,
            }
        )
        for entity, to_state, after in (
            ("order", "accepted", 20),
            ("order", "on_scene", arrive),
            ("order", "completed", arrive + 600),
            ("alert", "resolved", arrive + 900),
        ):
            audits.append(
                {
                    "alert_id": alert_id,
                    "order_id": order_id,
                    "entity": entity,
                    "from_state": None,
                    "to_state": to_state,
                    "actor": "system",
                    "at": raised + timedelta(seconds=after),
                    "detail": {},
                    "event": {},
                    "published": True,
                }
            )
    with db.session() as session:
        for table, rows in ((Alert, alerts), (Order, orders), (AuditRecord, audits)):
            for i in range(0, len(rows), 5000):
                session.execute(insert(table), rows[i : i + 5000])


def timed(what: Callable[[], Any], runs: int = 5) -> float:
    """Median wall time of ``runs`` calls, in ms."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        what()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    db = Database(url)
    db.create_schema()
    seed(db, args.alerts)
    if db.engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load: without statistics the planner takes
        # the audit trail for a handful of rows and loops over it per alert.
        with db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    supervisor = Principal("sup", Role.SUPERVISOR)
    now = datetime.now(UTC)
    month = AlertFilter(since=now - timedelta(days=30))

    def page(f: AlertFilter, limit: int | None = 100) -> Callable[[], Any]:
        def run() -> Any:
            with db.session() as session:
                return alert_history(session, supervisor, f, now=now, limit=limit)

        return run

    def baseline() -> Any:
        with db.session() as session:
            query = select(Alert).order_by(col(Alert.raised_at).desc(), col(Alert.id)).limit(100)
            return list(session.exec(query))

    print(f"{args.alerts} alerts, {4 * args.alerts} audit records, {url.split(':')[0]}")
    print(f"{'baseline: GET /alerts first page':42} {timed(baseline):8.1f} ms")
    print(f"{'history first page, no filter':42} {timed(page(AlertFilter())):8.1f} ms")
    print(f"{'history first page, one district':42} {timed(page(AlertFilter(area='区3'))):8.1f} ms")
    print(f"{'history first page, late only':42} {timed(page(AlertFilter(reached=False))):8.1f} ms")
    rows = len(page(month, None)().rows)
    print(f"{f'export rows of the last 30 days ({rows})':42} {timed(page(month, None), 3):8.1f} ms")
    db.dispose()


if __name__ == "__main__":
    main()
