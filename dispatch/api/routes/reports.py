"""The care bureau's reports: the alert history (paged, CSV, XLSX) and operators' work."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from dispatch.api.deps import BoardDep, SessionDep, SettingsDep, allow
from dispatch.api.export import to_csv, to_xlsx
from dispatch.domain.access import Principal, Role
from dispatch.domain.operator_work import Acknowledgement, month_bounds, summarise
from dispatch.store.alert_history import (
    COLUMNS,
    AlertFilter,
    HistoryPage,
    acknowledged_between,
    alert_history,
)

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

SupervisorDep = Annotated[Principal, Depends(allow(Role.SUPERVISOR, Role.ADMIN))]
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


@router.get("/alerts.csv")
def alerts_csv(session: SessionDep, principal: BoardDep, f: FilterDep) -> Response:
    """The same alerts as a CSV file; the header row names the columns."""
    page = _everything(session, principal, f)
    body = to_csv(COLUMNS, (row.as_dict() for row in page.rows))
    return Response(
        body, media_type="text/csv; charset=utf-8", headers=_attachment("alerts", "csv")
    )


@router.get("/alerts.xlsx")
def alerts_xlsx(session: SessionDep, principal: BoardDep, f: FilterDep) -> Response:
    """The same alerts as an Excel workbook."""
    page = _everything(session, principal, f)
    body = to_xlsx(COLUMNS, (row.as_dict() for row in page.rows), title="alerts")
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=_attachment("alerts", "xlsx"),
    )


@router.get("/operators")
def operators_work(
    session: SessionDep,
    settings: SettingsDep,
    principal: SupervisorDep,
    month: str = Query(..., max_length=7, description="YYYY-MM, in the centre's time zone"),
) -> dict[str, Any]:
    """Per operator over the month: alerts acknowledged, answer time (raised →
    acknowledged) median and p90, acknowledged → closed median."""
    try:
        year, number = month_bounds(month)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    zone = ZoneInfo(settings.timezone)
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    acks = [
        Acknowledgement(who, raised, acked, closed)
        for who, raised, acked, closed in acknowledged_between(session, start, end)
    ]
    return {
        "month": month,
        "timezone": settings.timezone,
        "operators": [asdict(work) for work in summarise(acks)],
    }
