"""How long the monthly report takes on a year of alerts: its figures (six months,
the city and one district), the charts, and the PDF.

    .venv/bin/python bench/monthly_report.py                  # SQLite, 50,000 alerts
    .venv/bin/python bench/monthly_report.py --alerts 5000 --elders 2000
    .venv/bin/python bench/monthly_report.py --database-url postgresql://postgres@127.0.0.1/bench

Loads the alert history of bench/reports_history.py (``--alerts`` closed alerts
over 365 days in 8 districts, each with an order and four audit records), then
``--elders`` elders and ``--caregivers`` caregivers spread over a 12 km square
(the 15-minute circle compares every elder with every caregiver). Times, beside
the same run's baseline (the board's plain first page of alerts, which joins
nothing): GET /monthly's figures for the city and for one district, the seven
charts drawn, and the PDF laid out from figures already counted.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel import col, select

from bench.reports_history import DISTRICTS, seed, timed
from dispatch.api.monthly_charts import CHARTED, trend_svg
from dispatch.api.monthly_pdf import render_pdf
from dispatch.api.routes.monthly import Sources, monthly_figures
from dispatch.homecare.menu import load_menu
from dispatch.matching.travel import DetourTravelModel
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Caregiver, Elder

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Shanghai")


def seed_people(db: Database, elders: int, caregivers: int) -> None:
    rng = random.Random(11)

    def spot() -> tuple[float, float]:
        return 30.0 + rng.uniform(-0.054, 0.054), 120.0 + rng.uniform(-0.062, 0.062)

    people: list[Elder | Caregiver] = []
    for i in range(elders):
        lat, lon = spot()
        people.append(
            Elder(
                name=f"e{i}",
                address="-",
                lat=lat,
                lon=lon,
                district=rng.choice(DISTRICTS),
                regular_visits=i % 5 == 0,
            )
        )
    carers = []
    for i in range(caregivers):
        lat, lon = spot()
        carers.append(
            Caregiver(
                name=f"c{i}",
                skills=[],
                shift_start=time(0),
                shift_end=time(23, 59),
                transport="ebike",
                home_lat=lat,
                home_lon=lon,
            )
        )
    with db.session() as session:
        session.add_all(people + carers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--elders", type=int, default=10_000)
    parser.add_argument("--caregivers", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    db = Database(url)
    db.create_schema()
    seed(db, args.alerts)
    seed_people(db, args.elders, args.caregivers)
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:  # what autovacuum does after a bulk load
            conn.execute(text("ANALYZE"))
            conn.commit()
    menu = load_menu(ROOT / "config" / "services.yaml")
    codes = load_catalog(ROOT / "config" / "alert_types.yaml").closure_codes
    travel = DetourTravelModel()
    now = datetime.now(UTC)
    month = now.astimezone(ZONE).strftime("%Y-%m")

    def figures(district: str | None) -> dict[str, Any]:
        with db.session() as session:
            src = Sources(session, menu, ZONE, frozenset(), now)
            return monthly_figures(src, travel, month, district)

    def baseline() -> Any:
        with db.session() as session:
            query = select(Alert).order_by(col(Alert.raised_at).desc(), col(Alert.id)).limit(100)
            return list(session.exec(query))

    city = figures(None)

    def charts() -> Any:
        return [trend_svg(city["trend"], key) for key in CHARTED]

    def pdf() -> bytes:
        return render_pdf(city, lang="zh-CN", made_at=now, codes=codes)

    print(
        f"{args.alerts} alerts, {args.elders} elders, {args.caregivers} caregivers, "
        f"{url.split(':')[0]}, month {month}"
    )
    print(f"{'baseline: GET /alerts first page':42} {timed(baseline):8.1f} ms")
    print(f"{'monthly figures, the city (6 months)':42} {timed(lambda: figures(None), 3):8.1f} ms")
    print(f"{'monthly figures, one district':42} {timed(lambda: figures('区3'), 3):8.1f} ms")
    print(f"{'the 7 trend charts (SVG)':42} {timed(charts, 3):8.1f} ms")
    print(f"{'the PDF, from counted figures':42} {timed(pdf, 3):8.1f} ms")
    print(f"{'':42} {len(pdf()):,} bytes; within 15 min {city['kpis']['within_15_min']}")
    db.dispose()


if __name__ == "__main__":
    main()
