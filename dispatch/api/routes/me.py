"""A caregiver's own orders, shift switch and planned visits."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from dispatch.api.deps import (
    CaregiverDep,
    CatalogDep,
    DatabaseDep,
    HomeCareDep,
    MenuDep,
    PublishDep,
    SessionDep,
)
from dispatch.api.routes.homecare import visit_view, visits_of_day
from dispatch.domain.lifecycle import ACTIVE_ORDER_STATES
from dispatch.domain.live_events import (
    DOOR_ACCESS_STATES,
    alert_view,
    elder_view,
    order_view,
)
from dispatch.domain.model import GeoPoint
from dispatch.homecare import visits
from dispatch.homecare.menu import ServiceMenu
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Caregiver, Elder, Order, Visit

router = APIRouter(prefix="/api/v1/me", tags=["caregiver"])


class Duty(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_duty: bool


@router.get("/orders")
def my_orders(session: SessionDep, principal: CaregiverDep) -> list[dict[str, Any]]:
    """My active orders, each with its alert and the elder's card."""
    orders = session.exec(
        select(Order)
        .where(
            Order.caregiver_id == principal.caregiver_id, col(Order.state).in_(ACTIVE_ORDER_STATES)
        )
        .order_by(col(Order.offered_at))
    ).all()
    out = []
    for order in orders:
        alert = session.get(Alert, order.alert_id)
        assert alert is not None
        elder = session.get(Elder, alert.elder_id) if alert.elder_id else None
        out.append(
            {
                "order": order_view(order),
                "alert": alert_view(alert),
                "elder": elder_view(elder, door_access=order.state in DOOR_ACCESS_STATES),
            }
        )
    return out


@router.get("/closure-codes")
def closure_codes(catalog: CatalogDep, _caregiver: CaregiverDep) -> list[dict[str, str]]:
    """The codes completing an order asks for (docs/contacts.md), in their order."""
    return [asdict(code) for code in catalog.closure_codes.values()]


@router.get("/shift")
def get_duty(session: SessionDep, principal: CaregiverDep) -> dict[str, bool]:
    """Whether I am on shift (offers come only then)."""
    caregiver = session.get(Caregiver, principal.caregiver_id)
    assert caregiver is not None
    return {"on_duty": caregiver.on_duty}


@router.post("/shift")
async def set_duty(db: DatabaseDep, principal: CaregiverDep, body: Duty) -> dict[str, bool]:
    """Go on or off shift; off shift, no offer comes."""

    def update() -> None:
        with db.session() as session:
            caregiver = session.get(Caregiver, principal.caregiver_id)
            assert caregiver is not None
            caregiver.on_duty = body.on_duty
            session.add(caregiver)

    await db.run(update)
    return {"on_duty": body.on_duty}


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class VisitNotes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notes: str = Field(default="", max_length=4000)


class VisitProblem(VisitNotes):
    kind: visits.VisitException


@router.get("/visits")
def my_visits(
    session: SessionDep,
    homecare: HomeCareDep,
    menu: MenuDep,
    principal: CaregiverDep,
    day: date | None = None,
) -> list[dict[str, Any]]:
    """My route for the day (default today), in order."""
    assert principal.caregiver_id is not None
    return visits_of_day(session, menu, day or homecare.today(), principal.caregiver_id)


def _visit_out(db: Database, menu: ServiceMenu, visit: Visit) -> dict[str, Any]:
    with db.session() as session:
        return visit_view(visit, session.get(Elder, visit.elder_id), menu)


@router.post("/visits/{visit_id}/start")
async def start_visit(
    db: DatabaseDep, menu: MenuDep, principal: CaregiverDep, visit_id: uuid.UUID, body: Position
) -> dict[str, Any]:
    """At the door: the position is checked against the elder's address."""
    assert principal.caregiver_id is not None
    visit = await db.run(
        visits.start,
        db,
        menu,
        principal.caregiver_id,
        visit_id,
        GeoPoint(body.lat, body.lon),
        at=datetime.now(UTC),
    )
    return {
        **_visit_out(db, menu, visit),
        "away_from_address": visits.away_from_address(visit, menu),
    }


@router.post("/visits/{visit_id}/finish")
async def finish_visit(
    db: DatabaseDep, menu: MenuDep, principal: CaregiverDep, visit_id: uuid.UUID, body: VisitNotes
) -> dict[str, Any]:
    assert principal.caregiver_id is not None
    visit = await db.run(
        visits.finish,
        db,
        menu,
        principal.caregiver_id,
        visit_id,
        body.notes,
        at=datetime.now(UTC),
    )
    return _visit_out(db, menu, visit)


@router.post("/visits/{visit_id}/exception")
async def visit_exception(
    db: DatabaseDep,
    catalog: CatalogDep,
    menu: MenuDep,
    publish: PublishDep,
    principal: CaregiverDep,
    visit_id: uuid.UUID,
    body: VisitProblem,
) -> dict[str, Any]:
    """Nobody home, or the elder unwell: the visit ends and the call centre gets an alert."""
    assert principal.caregiver_id is not None
    visit, alert = await db.run(
        visits.report_exception,
        db,
        catalog,
        principal.caregiver_id,
        visit_id,
        body.kind,
        body.notes,
        at=datetime.now(UTC),
    )
    await publish()
    return {**_visit_out(db, menu, visit), "alert_id": str(alert.id)}
