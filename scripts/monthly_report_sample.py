"""A monthly report PDF from six months of made-up history, and its two pages as
PNGs, for docs/screenshots/ (what the bureau would file, looked at as a person would).

    .venv/bin/python scripts/monthly_report_sample.py            # zh-CN and en
    .venv/bin/python scripts/monthly_report_sample.py --out /tmp

Seeds a scratch SQLite database (two districts, 400 elders, 30 caregivers, about
250 alerts a month with answer times, arrivals and closure codes, device outages,
monthly visits with follow-up ratings), then renders the report as the server
does. Needs poppler's pdftoppm for the PNG.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dispatch.api.monthly_pdf import render_pdf
from dispatch.api.routes.monthly import Sources, monthly_figures
from dispatch.domain.lifecycle import AlertState, OrderState, VisitState
from dispatch.homecare.menu import load_menu
from dispatch.matching.travel import DetourTravelModel
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store.db import Database
from dispatch.store.tables import (
    Alert,
    AuditRecord,
    Caregiver,
    Device,
    Elder,
    FollowUp,
    Order,
    Visit,
)

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Shanghai")
MONTH = "2026-11"
DISTRICTS = {"东城区": (39.928, 116.416), "西城区": (39.912, 116.366)}
CODES = (
    ["real_emergency"] * 5
    + ["fall_no_injury"] * 3
    + ["accidental_press"] * 4
    + ["false_alarm", "device_fault", "test"]
)


def _near(rng: random.Random, centre: tuple[float, float], km: float) -> tuple[float, float]:
    return (centre[0] + rng.uniform(-km, km) / 111.0, centre[1] + rng.uniform(-km, km) / 85.0)


def seed(db: Database, rng: random.Random) -> None:
    with db.session() as session:
        elders, carers = [], []
        for district, centre in DISTRICTS.items():
            for i in range(200):
                lat, lon = _near(rng, centre, 4.5)
                elders.append(
                    Elder(
                        name=f"老人{i}",
                        address="-",
                        lat=lat,
                        lon=lon,
                        district=district,
                        street="街道",
                        regular_visits=i % 4 == 0,
                    )
                )
            for i in range(15):
                lat, lon = _near(rng, centre, 2.5)
                carers.append(
                    Caregiver(
                        name=f"护理员{i}",
                        skills=["basic_care"],
                        shift_start=time(0),
                        shift_end=time(23, 59),
                        transport="ebike",
                        home_lat=lat,
                        home_lon=lon,
                    )
                )
        session.add_all(elders + carers)
        session.flush()
        devices = [
            Device(id=f"btn-{i}", kind="panic_button", elder_id=e.id) for i, e in enumerate(elders)
        ]
        session.add_all(devices)
        session.flush()
        for back in range(6):
            first = date(2026, 11 - back, 1)
            better = (5 - back) * 0.04  # the service improving month by month
            for _ in range(rng.randint(220, 280)):
                elder = rng.choice(elders)
                raised = datetime.combine(first, time(0), ZONE) + timedelta(
                    seconds=rng.uniform(0, 28 * 86400)
                )
                answer_s = rng.expovariate(1 / (45 - 40 * better))
                code = rng.choice(CODES)
                alert = Alert(
                    elder_id=elder.id,
                    alert_type="help_button",
                    severity="high",
                    state=AlertState.RESOLVED,
                    raised_at=raised,
                    deadline_at=raised + timedelta(minutes=15),
                    device_ts=raised,
                    updated_at=raised,
                    lat=elder.lat,
                    lon=elder.lon,
                    district=elder.district,
                    street=elder.street,
                    acknowledged_at=raised + timedelta(seconds=answer_s),
                    acknowledged_by="op-1",
                    closure_code=code,
                    claimed_until=raised + timedelta(days=400),
                )
                session.add(alert)
                session.flush()
                steps = [("alert", "acknowledged", answer_s, "acknowledged")]
                if code in ("real_emergency", "fall_no_injury"):
                    carer = rng.choice(carers)
                    session.add(
                        Order(
                            alert_id=alert.id,
                            caregiver_id=carer.id,
                            state=OrderState.COMPLETED,
                            offered_at=raised,
                            expires_at=raised + timedelta(seconds=60),
                            updated_at=raised,
                            eta_s=600,
                            distance_m=2000,
                        )
                    )
                    on_scene = rng.gauss(11 - 8 * better, 3.5) * 60
                    steps.append(("order", "on_scene", on_scene, None))
                steps.append(("alert", "resolved", 3600, None))
                session.add_all(
                    AuditRecord(
                        alert_id=alert.id,
                        entity=entity,
                        from_state=None,
                        to_state=to,
                        actor="system",
                        published=True,
                        action=action,
                        at=raised + timedelta(seconds=after),
                    )
                    for entity, to, after, action in steps
                )
            for device in rng.sample(devices, 6 - back):
                start = datetime.combine(first, time(0), ZONE) + timedelta(days=rng.randint(0, 25))
                out = Alert(
                    device_id=device.id,
                    elder_id=device.elder_id,
                    alert_type="device_offline",
                    severity="medium",
                    state=AlertState.RESOLVED,
                    raised_at=start,
                    deadline_at=start + timedelta(hours=1),
                    device_ts=start,
                    updated_at=start,
                    lat=0,
                    lon=0,
                    district="",
                    closure_code="device_fault",
                    claimed_until=start + timedelta(days=400),
                )
                session.add(out)
                session.flush()
                session.add(
                    AuditRecord(
                        alert_id=out.id,
                        entity="alert",
                        from_state=None,
                        to_state="resolved",
                        actor="system",
                        published=True,
                        at=start + timedelta(hours=rng.uniform(2, 40)),
                    )
                )
            for elder in elders:
                if not elder.regular_visits or rng.random() > 0.86 + better * 0.6:
                    continue
                day = first + timedelta(days=rng.randint(0, 26))
                start = datetime.combine(day, time(9), ZONE)
                visit = Visit(
                    elder_id=elder.id,
                    service="meal_assist",
                    day=day,
                    window_start=start,
                    window_end=start + timedelta(hours=2),
                    state=VisitState.DONE,
                )
                session.add(visit)
                session.flush()
                if rng.random() < 0.5:
                    session.add(
                        FollowUp(
                            visit_id=visit.id,
                            reason="first_visit",
                            created_at=start + timedelta(hours=3),
                            satisfaction=rng.choice([3, 4, 4, 5, 5, 5]),
                        )
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        db = Database(f"sqlite:///{scratch}/sample.db")
        db.create_schema()
        seed(db, random.Random(20))
        menu = load_menu(ROOT / "config" / "services.yaml")
        catalog = load_catalog(ROOT / "config" / "alert_types.yaml")
        made = datetime(2026, 12, 1, 9, 0, tzinfo=ZONE)
        with db.session() as session:
            src = Sources(session, menu, ZONE, frozenset(), made.astimezone(UTC))
            figures = monthly_figures(src, DetourTravelModel(), MONTH, None)
        for lang, tag in (("zh-CN", "zh"), ("en", "en")):
            pdf = render_pdf(figures, lang=lang, made_at=made, codes=catalog.closure_codes)
            path = Path(scratch) / f"monthly-{tag}.pdf"
            path.write_bytes(pdf)
            for page, part in ((1, ""), (2, "-trend")):  # the figures; the charts
                png = args.out / f"monthly-report-pdf{part}-{tag}"
                subprocess.run(
                    [
                        "pdftoppm",
                        "-png",
                        "-r",
                        "80",
                        "-f",
                        str(page),
                        "-l",
                        str(page),
                        "-singlefile",
                        str(path),
                        str(png),
                    ],
                    check=True,
                )
                print(f"{png}.png ({len(pdf):,} bytes of PDF)")


if __name__ == "__main__":
    main()
