"""The monthly report per district or for the city: its figures (JSON), the trend
charts the page shows, and the PDF the care bureau files."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from dispatch.api.deps import (
    CatalogDep,
    MenuDep,
    SessionDep,
    SettingsDep,
    SupervisorDep,
    TravelDep,
    VoiceDep,
)
from dispatch.api.monthly_charts import CHARTED, trend_svg
from dispatch.api.monthly_pdf import PDF_TYPE, render_pdf
from dispatch.domain.areas import parts_of
from dispatch.domain.monthly_kpis import MonthFacts, availability, kpis, previous_months
from dispatch.domain.operator_work import month_bounds
from dispatch.domain.service_circle import service_circle
from dispatch.homecare.coverage import month_of
from dispatch.homecare.menu import ServiceMenu
from dispatch.homecare.reports import coverage_report
from dispatch.matching.travel import TravelModel
from dispatch.store.monthly_facts import (
    alert_facts,
    caregiver_bases,
    device_outages,
    elder_points,
    ratings,
)
from dispatch.store.tables import Elder
from dispatch.voice.service import VoiceService

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

MonthQuery = Query(..., max_length=7, description="YYYY-MM, in the centre's time zone")
DistrictQuery = Query(None, max_length=100, description="one district; none: the whole city")
Lang = Literal["zh-CN", "en"]

# The monthly report's trend: this many months, ending with the month asked for.
TREND_MONTHS = 6


@dataclass(frozen=True)
class Sources:
    """What the month's figures are read with."""

    session: Any
    menu: ServiceMenu
    zone: ZoneInfo
    talking_kinds: Collection[str]
    now: datetime


def _talking_kinds(voice: VoiceService | None) -> frozenset[str]:
    """Device kinds whose alerts are answered by a connected call (the board's rule)."""
    if voice is None:
        return frozenset()
    return frozenset(kind for kind, v in voice.voices.kinds.items() if v.talks)


def _month_facts(src: Sources, month: str, district: str | None) -> MonthFacts:
    year, number = month_bounds(month)
    start = datetime(year, number, 1, tzinfo=src.zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=src.zone)
    first, last = month_of(start.date())

    def in_district(elder: Elder) -> bool:
        return district is None or elder.district == district

    visits = coverage_report(src.session, src.menu, last, in_district).coverage
    devices, outages = device_outages(src.session, start, end, district)
    return MonthFacts(
        month=month,
        alerts=tuple(alert_facts(src.session, start, end, district, src.talking_kinds)),
        ratings=tuple(ratings(src.session, first, last, district)),
        visit_elders=visits.flagged,
        visit_elders_visited=len(visits.visited),
        # A month under way counts up to now; a month to come has no time to count.
        device_availability=availability(devices, outages, start, min(end, src.now)),
    )


def monthly_figures(
    src: Sources, travel: TravelModel, month: str, district: str | None
) -> dict[str, Any]:
    """The month's KPIs and the trend (oldest first), as GET /monthly answers."""
    trend = [kpis(_month_facts(src, m, district)) for m in previous_months(month, TREND_MONTHS)]
    # The circle is as staffed now (the registry keeps no history of bases): the
    # report's month only.
    homes = elder_points(src.session, district)
    circle = service_circle(list(enumerate(homes)), caregiver_bases(src.session), travel)
    trend[-1]["within_15_min"] = circle.share
    return {
        "month": month,
        "district": district,
        "timezone": src.zone.key,
        "kpis": trend[-1],
        "trend": trend,
    }


def _checked(month: str, district: str | None) -> str | None:
    try:
        month_bounds(month)
        if district and len(parts_of(district)) != 1:
            raise ValueError(f"district is one area level, not {district!r}")
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    return district or None


def _sources(session: SessionDep, settings: SettingsDep, menu: MenuDep, voice: VoiceDep) -> Sources:
    return Sources(
        session, menu, ZoneInfo(settings.timezone), _talking_kinds(voice), datetime.now(UTC)
    )


SourcesDep = Annotated[Sources, Depends(_sources)]


@router.get("/monthly")
def monthly_report(
    src: SourcesDep,
    travel: TravelDep,
    principal: SupervisorDep,
    month: str = MonthQuery,
    district: str | None = DistrictQuery,
) -> dict[str, Any]:
    """The month's KPIs for a district (or the city without one) and the same KPIs
    over the months before it (the trend, oldest first)."""
    return monthly_figures(src, travel, month, _checked(month, district))


@router.get("/monthly/charts")
def monthly_charts(
    src: SourcesDep,
    travel: TravelDep,
    principal: SupervisorDep,
    month: str = MonthQuery,
    district: str | None = DistrictQuery,
) -> dict[str, Any]:
    """The report's figures with each charted KPI's trend drawn as SVG (``charts``,
    by KPI): the same drawings the PDF has."""
    figures = monthly_figures(src, travel, month, _checked(month, district))
    figures["charts"] = {key: trend_svg(figures["trend"], key) for key in CHARTED}
    return figures


@router.get(
    "/monthly.pdf",
    responses={
        200: {
            "description": "the report as a PDF",
            "content": {PDF_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def monthly_pdf(
    src: SourcesDep,
    travel: TravelDep,
    catalog: CatalogDep,
    principal: SupervisorDep,
    month: str = MonthQuery,
    area: str | None = Query(None, max_length=100, description="one district; none: the city"),
    lang: Lang = "zh-CN",
) -> Response:
    """The monthly report as a PDF to file: the KPIs, the closure codes, the trend."""
    figures = monthly_figures(src, travel, month, _checked(month, area))
    pdf = render_pdf(
        figures,
        lang=lang,
        made_at=src.now.astimezone(src.zone),
        codes=catalog.closure_codes,
    )
    name = f"carebell-{month}-{figures['district'] or 'city'}.pdf"
    return Response(
        pdf,
        media_type=PDF_TYPE,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )
