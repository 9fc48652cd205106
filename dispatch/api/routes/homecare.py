"""Planned home services for the call centre: menu, requests, planning, follow-ups, reports."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from dispatch.api.deps import (
    BoardDep,
    DatabaseDep,
    HomeCareDep,
    MenuDep,
    SessionDep,
    SettingsDep,
    WorkDep,
    allow,
    forbid,
)
from dispatch.api.routes.credit import providers_to_review
from dispatch.domain.access import Principal, Role
from dispatch.domain.lifecycle import RequestState, VisitState
from dispatch.homecare import requests, visits
from dispatch.homecare.billing import to_csv
from dispatch.homecare.menu import ServiceMenu
from dispatch.homecare.reports import coverage_report, monthly_statement
from dispatch.homecare.service import HomeCare
from dispatch.registry.elders import place_of
from dispatch.store.db import Database
from dispatch.store.tables import Caregiver, Elder, FollowUp, ServiceRequest, Visit

router = APIRouter(prefix="/api/v1", tags=["home services"])

# Assessment and approval is the care bureau's, not every operator's.
ApproverDep = Annotated[Principal, Depends(allow(Role.SUPERVISOR, Role.ADMIN))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestIn(_Body):
    elder_id: uuid.UUID
    item: str = Field(max_length=64)
    source: Literal["operator", "family", "elder"]
    requested_by: str = Field(default="", max_length=200)
    first_day: date
    last_day: date | None = None
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(default_factory=list, max_length=7)
    window_start: time
    window_end: time
    notes: str = Field(default="", max_length=4000)


class Decision(_Body):
    reason: str = Field(default="", max_length=1000)


class PlanIn(_Body):
    replan: bool = False  # from now on, leaving what is done or under way
    time_limit_s: float | None = Field(default=None, gt=0, le=300)


class FollowUpIn(_Body):
    reached: bool
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    comment: str = Field(default="", max_length=4000)


def _unprocessable(exc: Exception) -> HTTPException:
    return HTTPException(422, str(exc).strip("'\""))


# Operators see and change only the home services of elders in their areas.


def _sees(principal: Principal) -> Callable[[Elder | None], bool]:
    def visible(elder: Elder | None) -> bool:
        return elder is not None and principal.may_see_place(place_of(elder))

    return visible


def _elder_of_request(db: Database, request_id: uuid.UUID) -> Elder | None:
    with db.read() as session:
        row = session.get(ServiceRequest, request_id)
        return session.get(Elder, row.elder_id) if row is not None else None


def _elder_of_visit(db: Database, visit_id: uuid.UUID) -> Elder | None:
    with db.read() as session:
        row = session.get(Visit, visit_id)
        return session.get(Elder, row.elder_id) if row is not None else None


def _elder(db: Database, elder_id: uuid.UUID) -> Elder | None:
    with db.read() as session:
        return session.get(Elder, elder_id)


def _check(request: Request, principal: Principal, elder: Elder | None) -> None:
    """403 for an elder outside the operator's areas (unknown ones go on to a 404)."""
    if elder is not None and not _sees(principal)(elder):
        raise forbid(request, principal, "this elder is outside your areas")


@router.get("/services/menu")
def menu(service_menu: MenuDep, _: BoardDep) -> dict[str, Any]:
    """The service menu and the care-need levels, prices in yuan."""
    m = service_menu
    return {
        "items": [
            {
                "code": i.code,
                "label_zh": i.label_zh,
                "label_en": i.label_en,
                "duration_min": i.duration_s // 60,
                "skills": sorted(i.skills),
                "workers": i.workers,
                "price_yuan": i.price_fen / 100,
                "subsidised": i.subsidised,
            }
            for i in m.items.values()
        ],
        "care_levels": [
            {
                "level": c.level,
                "label_zh": c.label_zh,
                "label_en": c.label_en,
                "monthly_subsidy_yuan": c.monthly_subsidy_fen / 100,
            }
            for c in m.care_levels.values()
        ],
    }


@router.post("/service-requests", status_code=201, response_model=ServiceRequest)
async def create_request(
    db: DatabaseDep, menu: MenuDep, principal: BoardDep, body: RequestIn, request: Request
) -> Any:
    """A request from an operator, or taken for a family member or the elder."""
    _check(request, principal, await db.run(_elder, db, body.elder_id))
    new = requests.NewRequest(
        elder_id=body.elder_id,
        item=body.item,
        source=body.source,
        requested_by=body.requested_by or principal.username,
        first_day=body.first_day,
        last_day=body.last_day,
        weekdays=frozenset(body.weekdays),
        window_start=body.window_start,
        window_end=body.window_end,
        notes=body.notes,
    )
    try:
        return await db.run(requests.create, db, menu, new, at=datetime.now(UTC))
    except (KeyError, ValueError) as exc:
        raise _unprocessable(exc) from exc


@router.get("/service-requests", response_model=list[ServiceRequest])
def list_requests(
    session: SessionDep, principal: BoardDep, state: RequestState | None = None
) -> Any:
    visible = _sees(principal)
    return [r for r in requests.listed(session, state) if visible(session.get(Elder, r.elder_id))]


async def _decide(
    db: Database,
    principal: Principal,
    request_id: uuid.UUID,
    target: RequestState,
    reason: str,
) -> Any:
    try:
        return await db.run(
            requests.decide,
            db,
            request_id,
            target,
            by=principal.username,
            reason=reason,
            at=datetime.now(UTC),
        )
    except ValueError as exc:
        raise _unprocessable(exc) from exc


@router.post("/service-requests/{request_id}/approve", response_model=ServiceRequest)
async def approve(
    db: DatabaseDep, principal: ApproverDep, request_id: uuid.UUID, body: Decision
) -> Any:
    return await _decide(db, principal, request_id, RequestState.APPROVED, body.reason)


@router.post("/service-requests/{request_id}/refuse", response_model=ServiceRequest)
async def refuse(
    db: DatabaseDep, principal: ApproverDep, request_id: uuid.UUID, body: Decision
) -> Any:
    """Refuse, with the reason the family will be told."""
    return await _decide(db, principal, request_id, RequestState.REFUSED, body.reason)


@router.post("/service-requests/{request_id}/cancel", response_model=ServiceRequest)
async def cancel(
    db: DatabaseDep, principal: BoardDep, request_id: uuid.UUID, body: Decision, request: Request
) -> Any:
    _check(request, principal, await db.run(_elder_of_request, db, request_id))
    return await _decide(db, principal, request_id, RequestState.CANCELLED, body.reason)


# A day in the city's time zone, or "today" there (a browser elsewhere need not know it).
Day = date | Literal["today"]


def _day(homecare: HomeCare, day: Day) -> date:
    return homecare.today() if day == "today" else day


@router.post("/planning/{day}")
async def plan(homecare: HomeCareDep, _: ApproverDep, day: Day, body: PlanIn) -> dict[str, Any]:
    """Plan the day's routes (or re-plan the rest of today); routes that changed are pushed."""
    now = datetime.now(UTC) if body.replan else None
    outcome = await homecare.plan(_day(homecare, day), now=now, time_limit_s=body.time_limit_s)
    return {
        "day": outcome.day.isoformat(),
        "planned": outcome.planned,
        "unplanned": [str(v) for v in outcome.unplanned],
        "changed_caregivers": [str(c) for c in outcome.changed],
        "travel_s": outcome.travel_s,
        "solver": outcome.solver,
    }


def visit_view(visit: Visit, elder: Elder | None, menu: ServiceMenu) -> dict[str, Any]:
    item = menu.items.get(visit.service)
    return {
        **visit.model_dump(mode="json"),
        "service_label_zh": item.label_zh if item else visit.service,
        "service_label_en": item.label_en if item else visit.service,
        "duration_min": item.duration_s // 60 if item else None,
        "elder_name": elder.name if elder else "",
        "elder_address": elder.address if elder else "",
        "elder_lat": elder.lat if elder else None,
        "elder_lon": elder.lon if elder else None,
        "elder_phone": elder.phone if elder else "",
        "access_notes": elder.access_notes if elder else "",
    }


def visits_of_day(
    session: Session,
    menu: ServiceMenu,
    day: date,
    caregiver_id: uuid.UUID | None = None,
    visible: Callable[[Elder | None], bool] | None = None,
) -> list[dict[str, Any]]:
    """A day's visits in route order (planned start, then the window)."""
    query = select(Visit).where(Visit.day == day, Visit.state != VisitState.CANCELLED)
    if caregiver_id is not None:
        query = query.where(
            (col(Visit.caregiver_id) == caregiver_id) | (col(Visit.partner_id) == caregiver_id)
        )
    rows = sorted(
        session.exec(query), key=lambda v: (v.planned_start or v.window_start, v.window_start)
    )
    elders = {
        e.id: e
        for e in session.exec(select(Elder).where(col(Elder.id).in_({v.elder_id for v in rows})))
    }
    return [
        visit_view(v, elders.get(v.elder_id), menu)
        for v in rows
        if visible is None or visible(elders.get(v.elder_id))
    ]


@router.get("/planning/{day}/routes")
def routes(
    session: SessionDep, homecare: HomeCareDep, menu: MenuDep, principal: BoardDep, day: Day
) -> dict[str, Any]:
    """Each caregiver's route for the day in order, and the visits no route took (an
    operator: the visits to elders of their areas)."""
    day = _day(homecare, day)
    day_visits = visits_of_day(session, menu, day, visible=_sees(principal))
    names = {c.id: c.name for c in session.exec(select(Caregiver))}
    by_caregiver: dict[str, list[dict[str, Any]]] = {}
    for v in day_visits:
        lead, partner = v["caregiver_id"], v["partner_id"]
        for who, other in ((lead, partner), (partner, lead)):
            if who:
                # On each route the visit is that caregiver's: a two-person visit
                # names the other one as the partner.
                by_caregiver.setdefault(who, []).append(
                    {**v, "caregiver_id": who, "partner_id": other}
                )
    for route in by_caregiver.values():
        for position, visit in enumerate(route, start=1):
            visit["sequence"] = position  # in route order (visits_of_day sorts them)
    return {
        "day": day.isoformat(),
        "routes": [
            {"caregiver_id": c, "caregiver_name": names.get(uuid.UUID(c), ""), "visits": vs}
            for c, vs in sorted(by_caregiver.items())
        ],
        "unplanned": [v for v in day_visits if v["state"] == VisitState.SCHEDULED.value],
    }


@router.get("/follow-ups")
def follow_ups(
    session: SessionDep, menu: MenuDep, principal: BoardDep, done: bool = False
) -> list[dict[str, Any]]:
    """Follow-up calls to make (or made), oldest first, each with its visit."""
    visible = _sees(principal)
    query = select(FollowUp).where(
        col(FollowUp.done_at).isnot(None) if done else col(FollowUp.done_at).is_(None)
    )
    out = []
    for call in session.exec(query.order_by(col(FollowUp.created_at)).limit(500)):
        visit = session.get(Visit, call.visit_id)
        assert visit is not None  # foreign key
        elder = session.get(Elder, visit.elder_id)
        if visible(elder):
            out.append({**call.model_dump(mode="json"), "visit": visit_view(visit, elder, menu)})
    return out


@router.post("/follow-ups/{visit_id}", response_model=FollowUp)
async def record_follow_up(
    db: DatabaseDep, principal: BoardDep, visit_id: uuid.UUID, body: FollowUpIn, request: Request
) -> Any:
    _check(request, principal, await db.run(_elder_of_visit, db, visit_id))
    try:
        outcome = visits.CallOutcome(body.reached, body.satisfaction, body.comment)
    except ValueError as exc:
        raise _unprocessable(exc) from exc
    return await db.run(
        visits.record_follow_up,
        db,
        visit_id,
        principal.username,
        outcome,
        at=datetime.now(UTC),
    )


Month = Annotated[str, Query(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


def _first_of(month: str) -> date:
    year, mon = month.split("-")
    return date(int(year), int(mon), 1)


@router.get("/reports/coverage")
def coverage(
    session: SessionDep,
    menu: MenuDep,
    homecare: HomeCareDep,
    principal: BoardDep,
    on: date | None = None,
) -> dict[str, Any]:
    """Regular-visit coverage for ``on``'s month (default today): target 100%
    (an operator: of the elders of their areas)."""
    report = coverage_report(session, menu, on or homecare.today(), _sees(principal))
    c = report.coverage
    return {
        "month": c.month,
        "flagged": c.flagged,
        "visited": len(c.visited),
        "percent": c.percent,
        "scheduled": len(c.scheduled),
        "at_risk": report.at_risk,
        "unvisited": report.unvisited,
    }


@router.get(
    "/reports/statements",
    responses={
        200: {
            "description": "the statement lines (JSON), or with format=csv as CSV",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def statements(
    session: SessionDep,
    settings: SettingsDep,
    menu: MenuDep,
    principal: WorkDep,
    month: Month,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Monthly statement lines per service provider and menu item (an operator: of
    the visits to elders of their districts; a provider's staff: their provider's);
    ``credit_review``: the provider's credit score for the month is low, so the
    bureau reviews its lines before paying (config/credit.yaml)."""
    lines = monthly_statement(session, menu, _first_of(month), principal)
    if format == "csv":
        return Response(
            to_csv(lines),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="statement-{month}.csv"'},
        )
    review = providers_to_review(session, settings, menu, month) if lines else set()
    return [
        {
            "provider": line.provider,
            "credit_review": line.provider in review,
            "item": line.item,
            "visits": line.visits,
            "hours": round(line.hours, 2),
            "subsidy_yuan": line.subsidy_fen / 100,
            "self_pay_yuan": line.self_pay_fen / 100,
            "exceptions": line.exceptions,
            "satisfaction": line.satisfaction,
        }
        for line in lines
    ]
