"""The care bureau's reports: the alert and visit histories (paged, CSV, XLSX) and
operators' work."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from dispatch.api.deps import BoardDep, MenuDep, SessionDep, SettingsDep, SupervisorDep
from dispatch.api.export import CSV_ANSWER, XLSX_ANSWER, XLSX_TYPE, to_csv, to_xlsx
from dispatch.domain.access import Principal
from dispatch.domain.lifecycle import VisitState
from dispatch.domain.operator_work import (
    Acknowledgement,
    month_bounds,
    shift_starts,
    summarise,
    summarise_shifts,
)
from dispatch.store.alert_history import (
    COLUMNS,
    AlertFilter,
    HistoryPage,
    acknowledged_between,
    alert_history,
)
from dispatch.store.visit_history import COLUMNS as VISIT_COLUMNS
from dispatch.store.visit_history import VisitFilter, VisitPage, visit_history

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

# An export is one file; beyond this many rows, narrow the filters.
EXPORT_MAX_ROWS = 100_000


def alert_filter(
    since: datetime | None = None,
    until: datetime | None = None,
    area: str | None = Query(None, max_length=200),
    type_: str | None = Query(None, alias="type", max_length=64),
    severity: str | None = Query(None, max_length=32),
    closure_code: str | None = Query(None, max_length=32),
    operator: str | None = Query(None, max_length=64),
    caregiver_id: uuid.UUID | None = None,
    provider_id: uuid.UUID | None = None,
    reached: bool | None = None,
) -> AlertFilter:
    """The history's filters as query parameters; a malformed one is a 422."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise HTTPException(422, f"{name} needs a UTC offset, e.g. 2026-12-01T00:00:00+08:00")
    try:
        return AlertFilter(
            since=since,
            until=until,
            area=area or None,
            alert_type=type_,
            severity=severity,
            closure_code=closure_code,
            operator=operator,
            caregiver_id=caregiver_id,
            provider_id=provider_id,
            reached=reached,
        )
    except ValueError as e:
        raise HTTPException(422, str(e)) from None


FilterDep = Annotated[AlertFilter, Depends(alert_filter)]


@router.get("/alerts")
def alerts_history(
    session: SessionDep,
    principal: BoardDep,
    f: FilterDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31),
) -> dict[str, Any]:
    """Alerts in the caller's areas matching the filters, newest first, paged."""
    page = alert_history(session, principal, f, now=datetime.now(UTC), limit=limit, offset=offset)
    return {
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "items": [row.as_dict() for row in page.rows],
    }


def _everything(session: SessionDep, principal: Principal, f: AlertFilter) -> HistoryPage:
    page = alert_history(session, principal, f, now=datetime.now(UTC), limit=EXPORT_MAX_ROWS + 1)
    if len(page.rows) > EXPORT_MAX_ROWS:
        raise HTTPException(
            422, f"{page.total} alerts match; an export holds {EXPORT_MAX_ROWS}: narrow the filters"
        )
    return page


def _attachment(name: str, suffix: str) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%MZ")
    return {"Content-Disposition": f'attachment; filename="{name}-{stamp}.{suffix}"'}


def _csv(name: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Response:
    return Response(
        to_csv(columns, rows),
        media_type="text/csv; charset=utf-8",
        headers=_attachment(name, "csv"),
    )


def _xlsx(name: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Response:
    return Response(
        to_xlsx(columns, rows, title=name),
        media_type=XLSX_TYPE,
        headers=_attachment(name, "xlsx"),
    )


@router.get("/alerts.csv", responses=CSV_ANSWER)
def alerts_csv(session: SessionDep, principal: BoardDep, f: FilterDep) -> Response:
    """The same alerts as a CSV file; the header row names the columns."""
    page = _everything(session, principal, f)
    return _csv("alerts", COLUMNS, (row.as_dict() for row in page.rows))


@router.get("/alerts.xlsx", responses=XLSX_ANSWER)
def alerts_xlsx(session: SessionDep, principal: BoardDep, f: FilterDep) -> Response:
    """The same alerts as an Excel workbook."""
    page = _everything(session, principal, f)
    return _xlsx("alerts", COLUMNS, (row.as_dict() for row in page.rows))


def visit_filter(
    since: date | None = None,
    until: date | None = None,
    area: str | None = Query(None, max_length=200),
    service: str | None = Query(None, max_length=64),
    state: VisitState | None = None,
    exception: str | None = Query(None, max_length=32),
    caregiver_id: uuid.UUID | None = None,
    provider_id: uuid.UUID | None = None,
    away: bool | None = None,
) -> VisitFilter:
    """The visit history's filters as query parameters; a malformed one is a 422."""
    try:
        return VisitFilter(
            since=since,
            until=until,
            area=area or None,
            service=service,
            state=state,
            exception=exception,
            caregiver_id=caregiver_id,
            provider_id=provider_id,
            away=away,
        )
    except ValueError as e:
        raise HTTPException(422, str(e)) from None


VisitFilterDep = Annotated[VisitFilter, Depends(visit_filter)]


@router.get("/visits")
def visits_history(
    session: SessionDep,
    menu: MenuDep,
    principal: BoardDep,
    f: VisitFilterDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31),
) -> dict[str, Any]:
    """Visits to elders in the caller's areas matching the filters, newest day first."""
    page = visit_history(
        session, principal, f, away_radius_m=menu.start_radius_m, limit=limit, offset=offset
    )
    return {
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "items": [row.as_dict() for row in page.rows],
    }


def _all_visits(
    session: SessionDep, menu: MenuDep, principal: Principal, f: VisitFilter
) -> VisitPage:
    page = visit_history(
        session, principal, f, away_radius_m=menu.start_radius_m, limit=EXPORT_MAX_ROWS + 1
    )
    if len(page.rows) > EXPORT_MAX_ROWS:
        raise HTTPException(
            422, f"{page.total} visits match; an export holds {EXPORT_MAX_ROWS}: narrow the filters"
        )
    return page


@router.get("/visits.csv", responses=CSV_ANSWER)
def visits_csv(
    session: SessionDep, menu: MenuDep, principal: BoardDep, f: VisitFilterDep
) -> Response:
    """The same visits as a CSV file; the header row names the columns."""
    page = _all_visits(session, menu, principal, f)
    return _csv("visits", VISIT_COLUMNS, (row.as_dict() for row in page.rows))


@router.get("/visits.xlsx", responses=XLSX_ANSWER)
def visits_xlsx(
    session: SessionDep, menu: MenuDep, principal: BoardDep, f: VisitFilterDep
) -> Response:
    """The same visits as an Excel workbook."""
    page = _all_visits(session, menu, principal, f)
    return _xlsx("visits", VISIT_COLUMNS, (row.as_dict() for row in page.rows))


def _month_acknowledgements(
    session: SessionDep, zone: ZoneInfo, month: str
) -> list[Acknowledgement]:
    """The alerts acknowledged in ``month`` (YYYY-MM in ``zone``); a 422 if malformed."""
    try:
        year, number = month_bounds(month)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return [
        Acknowledgement(who, raised, acked, closed)
        for who, raised, acked, closed in acknowledged_between(session, start, end)
    ]


MonthQuery = Query(..., max_length=7, description="YYYY-MM, in the centre's time zone")


@router.get("/operators")
def operators_work(
    session: SessionDep, settings: SettingsDep, principal: SupervisorDep, month: str = MonthQuery
) -> dict[str, Any]:
    """Per operator over the month: alerts acknowledged, answer time (raised →
    acknowledged) median and p90, acknowledged → closed median."""
    acks = _month_acknowledgements(session, ZoneInfo(settings.timezone), month)
    return {
        "month": month,
        "timezone": settings.timezone,
        "operators": [asdict(work) for work in summarise(acks)],
    }


@router.get("/operators/shifts")
def operators_work_by_shift(
    session: SessionDep, settings: SettingsDep, principal: SupervisorDep, month: str = MonthQuery
) -> dict[str, Any]:
    """The month shift by shift (settings.operator_shift_starts, by when each alert was
    acknowledged): each operator's work in the shift and the shift's in total."""
    zone = ZoneInfo(settings.timezone)
    starts = shift_starts(settings.operator_shift_starts)
    shifts = summarise_shifts(_month_acknowledgements(session, zone, month), zone, starts)
    return {
        "month": month,
        "timezone": settings.timezone,
        "shift_starts": [t.strftime("%H:%M") for t in starts],
        "shifts": [
            {
                "start": shift.start.isoformat(),
                "end": shift.end.isoformat(),
                "total": asdict(shift.total),
                "operators": [asdict(w) for w in shift.operators],
            }
            for shift in shifts
        ],
    }
