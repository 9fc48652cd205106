"""The care map for supervisors (docs/reports.md "The care map"): elders with their
grade, hardship, needs and risk signals, facilities, caregivers on shift, the
15-minute circle they reach now, and the what-if staffing table."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query

from dispatch.api.deps import BusDep, DatabaseDep, SettingsDep, SupervisorDep, TravelDep
from dispatch.domain.model import GeoPoint, TransportMode
from dispatch.domain.service_circle import (
    CIRCLE_S,
    Responder,
    caregivers_needed,
    responders_reaching,
    service_circle,
)
from dispatch.registry.workforce import on_shift
from dispatch.store.care_map import (
    ElderOnMap,
    active_caregivers,
    elders_on_map,
    facilities_on_map,
)
from dispatch.store.db import Database
from dispatch.store.tables import Caregiver, Facility

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

# A live position older than this is not where the caregiver is now.
FRESH_S = 300.0


def _base(c: Caregiver) -> tuple[float, float, str]:
    """Where a caregiver waits when no live position says otherwise."""
    if c.station_lat is not None and c.station_lon is not None:
        return c.station_lat, c.station_lon, "station"
    return c.home_lat, c.home_lon, "home"


def _mode(c: Caregiver) -> TransportMode:
    try:
        return TransportMode(c.transport)
    except ValueError:
        return TransportMode.EBIKE


def _read(db: Database) -> tuple[list[ElderOnMap], list[Facility], list[Caregiver], datetime]:
    now = datetime.now().astimezone()
    with db.session() as session:
        elders = elders_on_map(session, now, now.date())
        return elders, facilities_on_map(session), active_caregivers(session), now


@router.get("/map")
async def care_map(
    db: DatabaseDep,
    bus: BusDep,
    settings: SettingsDep,
    travel: TravelDep,
    principal: SupervisorDep,
) -> dict[str, Any]:
    """Everything the care map draws, and the 15-minute circle of the caregivers on
    shift now (at their live position, else their station, else home)."""
    zone = ZoneInfo(settings.timezone)
    elders, facilities, caregivers, _ = await db.run(_read, db)
    now_local = datetime.now(zone)
    working = [c for c in caregivers if c.on_duty and on_shift(c, now_local)]
    positions = await bus.positions([str(c.id) for c in working])
    fresh_after = time.time() - FRESH_S
    working_now: list[dict[str, Any]] = []
    for c in working:
        pos = positions.get(str(c.id))
        if pos is not None and pos.seen_at >= fresh_after:
            lat, lon, where = pos.lat, pos.lon, "live"
        else:
            lat, lon, where = _base(c)
        working_now.append(
            {
                "id": str(c.id),
                "name": c.name,
                "lat": lat,
                "lon": lon,
                "mode": _mode(c).value,
                "position": where,
                "reach_m": round(travel.reach_m(CIRCLE_S, _mode(c))),
            }
        )
    circle = service_circle(
        [(e.id, GeoPoint(e.lat, e.lon)) for e in elders],
        [Responder(GeoPoint(c["lat"], c["lon"]), TransportMode(c["mode"])) for c in working_now],
        travel,
    )
    within = circle.within
    by_district: defaultdict[str, list[bool]] = defaultdict(list)
    for e in elders:
        by_district[e.district].append(e.id in within)
    return {
        "at": now_local.isoformat(),
        "tiles": {
            "url": settings.map_tiles_url,
            "crs": settings.map_tiles_crs,
            "attribution": settings.map_tiles_attribution,
        },
        "limit_s": CIRCLE_S,
        "share": circle.share,
        "districts": [
            {
                "district": d,
                "elders": len(flags),
                "within": sum(flags),
                "share": round(sum(flags) / len(flags), 4),
            }
            for d, flags in sorted(by_district.items())
        ],
        "elders": [
            {
                **{k: v for k, v in asdict(e).items() if k != "id"},
                "id": str(e.id),
                "reach_s": circle.fastest_s[e.id],
                "within": e.id in within,
            }
            for e in elders
        ],
        "facilities": [
            {"id": str(f.id), "name": f.name, "kind": f.kind, "lat": f.lat, "lon": f.lon}
            for f in facilities
        ],
        "caregivers": working_now,
    }


HoursQuery = Query(
    "8,10,12,14,16,18,20",
    max_length=80,
    pattern=r"^\d{1,2}(,\d{1,2}){0,23}$",
    description="hours of the day, local, comma-separated",
)


@router.get("/map/what-if")
async def what_if(
    db: DatabaseDep,
    settings: SettingsDep,
    travel: TravelDep,
    principal: SupervisorDep,
    hours: str = HoursQuery,
    target: float = Query(0.95, gt=0, le=1),
    day: str | None = Query(None, pattern=r"^\d{4}-\d{2}-\d{2}$"),
) -> dict[str, Any]:
    """Per street and hour: the caregivers on shift then (at their station or home),
    the share of the street's elders they reach within 15 minutes, and how many
    caregivers on shift the street needs for ``target`` of its elders (those on shift
    plus some more placed at its elders' homes, by e-bike; greedy)."""
    zone = ZoneInfo(settings.timezone)
    wanted = sorted({int(h) for h in hours.split(",")})
    if any(h > 23 for h in wanted):
        raise HTTPException(422, "hours are 0-23")
    elders, _, caregivers, _ = await db.run(_read, db)
    today = datetime.now(zone).date()
    if day is not None:
        try:
            today = date.fromisoformat(day)
        except ValueError as bad:
            raise HTTPException(422, str(bad)) from None
    streets: defaultdict[tuple[str, str], list[GeoPoint]] = defaultdict(list)
    for e in elders:
        streets[e.district, e.street].append(GeoPoint(e.lat, e.lon))
    rows: list[dict[str, Any]] = [
        {"district": d, "street": s, "elders": len(points), "hours": []}
        for (d, s), points in sorted(streets.items())
    ]
    # The fewest caregivers, waiting at some of its elders' homes, that bring the
    # street to the target by themselves. The travel model knows no rush hour, so
    # this is the same at every hour; who is on shift is what changes.
    needed = {
        key: caregivers_needed(points, points, TransportMode.EBIKE, travel, target_share=target)
        for key, points in streets.items()
    }
    for hour in wanted:
        moment = datetime.combine(today, datetime.min.time(), zone) + timedelta(hours=hour)
        there = []
        for c in caregivers:
            if c.active and on_shift(c, moment):
                lat, lon, _ = _base(c)
                there.append(Responder(GeoPoint(lat, lon), _mode(c)))
        for row in rows:
            points = streets[row["district"], row["street"]]
            circle = service_circle(list(enumerate(points)), there, travel)
            total = caregivers_needed(
                points, points, TransportMode.EBIKE, travel, target_share=target, already=there
            )
            row["hours"].append(
                {
                    "hour": hour,
                    # On shift then, within 15 minutes of at least one of its elders.
                    "reaching": responders_reaching(points, there, travel),
                    "share": circle.share,
                    # Beyond those on shift then, placed at its elders' homes.
                    "more_needed": None if total is None else total - len(there),
                    "needed": needed[row["district"], row["street"]],
                }
            )
    return {
        "day": today.isoformat(),
        "target": target,
        "limit_s": CIRCLE_S,
        "hours": wanted,
        "streets": rows,
    }
