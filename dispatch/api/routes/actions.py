"""Operator actions on alerts: each one audited with the operator's name."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import (
    BoardDep,
    BusDep,
    CatalogDep,
    DatabaseDep,
    Publish,
    PublishDep,
    SettingsDep,
    TravelDep,
    forbid,
)
from dispatch.domain.access import Principal
from dispatch.domain.catalog import Catalog
from dispatch.domain.live_events import alert_place
from dispatch.domain.model import GeoPoint, TransportMode, great_circle_m
from dispatch.emergency import handover, operators
from dispatch.errors import NotFound
from dispatch.live.bus import LiveBus
from dispatch.matching.travel import TravelModel
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Caregiver, Handover, Order

router = APIRouter(prefix="/api/v1/alerts", tags=["operator actions"])
T = TypeVar("T")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BulkAcknowledge(_Body):
    alert_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class Note(_Body):
    text: str = Field(min_length=1, max_length=4000)


class Callback(_Body):
    outcome: operators.CallbackOutcome
    note: str = Field(default="", max_length=4000)


class Assign(_Body):
    caregiver_id: uuid.UUID


class Reason(_Body):
    reason: str = Field(min_length=1, max_length=1000)


class Resolution(_Body):
    code: str = Field(min_length=1, max_length=32)  # one of the catalogue's closure codes
    note: str = Field(default="", max_length=4000)


class Cancellation(_Body):
    code: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=1000)


class HandOver(_Body):
    service: handover.Service = handover.Service.AMBULANCE


class HandoverOutcome(_Body):
    outcome: handover.Outcome
    note: str = Field(default="", max_length=4000)


def _known_code(catalog: Catalog, code: str) -> str:
    """A closure code from the configured list, or a 422 naming the ones there are."""
    if code not in catalog.closure_codes:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown closure code {code!r}; one of: {', '.join(catalog.closure_codes)}",
        )
    return code


def _check_area(
    db: Database, request: Request, principal: Principal, alert_ids: list[uuid.UUID]
) -> None:
    with db.session() as session:
        for alert_id in alert_ids:
            alert = session.get(Alert, alert_id)
            if alert is None:
                raise NotFound("alert", str(alert_id))
            if not principal.may_see_place(alert_place(alert)):
                raise forbid(request, principal, f"alert {alert_id} is outside your areas")


async def _guard(
    db: Database, request: Request, principal: Principal, *alert_ids: uuid.UUID
) -> datetime:
    await db.run(_check_area, db, request, principal, list(alert_ids))
    return datetime.now(UTC)


async def _act(
    db: Database,
    publish: Publish,
    request: Request,
    principal: Principal,
    alert_id: uuid.UUID,
    action: Callable[..., T],
    *args: Any,
) -> T:
    """Check the operator may touch the alert, act as them, then wake the dispatcher."""
    at = await _guard(db, request, principal, alert_id)
    done: T = await db.run(action, db, alert_id, principal.username, *args, at=at)
    await publish()
    return done


@router.post("/acknowledge", response_model=list[Alert])
async def acknowledge_many(
    db: DatabaseDep,
    publish: PublishDep,
    principal: BoardDep,
    request: Request,
    body: BulkAcknowledge,
) -> list[Alert]:
    """Take ownership of many alerts at once (a flood of alarms from one cause)."""
    at = await _guard(db, request, principal, *body.alert_ids)
    taken: list[Alert] = await db.run(
        operators.acknowledge, db, body.alert_ids, principal.username, at=at
    )
    await publish()
    return taken


@router.post("/{alert_id}/acknowledge", response_model=Alert)
async def acknowledge(
    db: DatabaseDep, publish: PublishDep, principal: BoardDep, request: Request, alert_id: uuid.UUID
) -> Alert:
    """Take ownership of an alert; it leaves the top of the escalation queue."""
    at = await _guard(db, request, principal, alert_id)
    await db.run(operators.acknowledge, db, [alert_id], principal.username, at=at)
    await publish()
    return await db.run(_load, db, alert_id)


@router.post("/{alert_id}/notes", response_model=Alert)
async def add_note(
    db: DatabaseDep,
    publish: PublishDep,
    principal: BoardDep,
    request: Request,
    alert_id: uuid.UUID,
    body: Note,
) -> Alert:
    return await _act(db, publish, request, principal, alert_id, operators.add_note, body.text)


@router.post("/{alert_id}/callback", response_model=Alert)
async def callback(
    db: DatabaseDep,
    publish: PublishDep,
    principal: BoardDep,
    request: Request,
    alert_id: uuid.UUID,
    body: Callback,
) -> Alert:
    """Record what the elder said when called back."""
    return await _act(
        db,
        publish,
        request,
        principal,
        alert_id,
        operators.record_callback,
        body.outcome,
        body.note,
    )


@router.post("/{alert_id}/assign", response_model=Order)
async def assign(
    db: DatabaseDep,
    bus: BusDep,
    travel: TravelDep,
    settings: SettingsDep,
    publish: PublishDep,
    principal: BoardDep,
    request: Request,
    alert_id: uuid.UUID,
    body: Assign,
) -> Order:
    """Offer the alert to a caregiver chosen by hand (reassigning it if need be)."""
    at = await _guard(db, request, principal, alert_id)
    estimate = await _estimate(db, bus, travel, alert_id, body.caregiver_id)
    order: Order = await db.run(
        operators.assign,
        db,
        alert_id,
        body.caregiver_id,
        principal.username,
        estimate,
        at=at,
        offer_timeout_s=settings.offer_timeout_s,
    )
    await publish()
    return order


@router.post("/{alert_id}/cancel", response_model=Alert)
async def cancel(
    db: DatabaseDep,
    catalog: CatalogDep,
    publish: PublishDep,
    principal: BoardDep,
    request: Request,
    alert_id: uuid.UUID,
    body: Cancellation,
) -> Alert:
    """Close the alert as a false alarm (or not needed), with a closure code and the reason."""
    code = _known_code(catalog, body.code)
    return await _act(
        db, publish, request, principal, alert_id, operators.cancel, body.reason, code
    )


@router.post("/{alert_id}/escalate", response_model=Alert)
async def escalate(
    db: DatabaseDep,
    publish: PublishDep,
    principal: BoardDep,
    request: Request,
    alert_id: uuid.UUID,
    body: Reason,
) -> Alert:
    """Hand the alert to a supervisor."""
    return await _act(db, publish, request, principal, alert_id, operators.escalate, body.reason)


@router.post("/{alert_id}/resolve", response_model=Alert)
async def resolve(
    db: DatabaseDep,
    publish: PublishDep,
    principal: BoardDep,
    request: Request,
    alert_id: uuid.UUID,
    catalog: CatalogDep,
    body: Resolution,
) -> Alert:
    """Close the alert with a closure code from the configured list and a note."""
    code = _known_code(catalog, body.code)
    return await _act(db, publish, request, principal, alert_id, operators.resolve, code, body.note)


def _load(db: Database, alert_id: uuid.UUID) -> Alert:
    with db.session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise NotFound("alert", str(alert_id))
        return alert


def _rows(db: Database, alert_id: uuid.UUID, caregiver_id: uuid.UUID) -> tuple[Alert, Caregiver]:
    with db.session() as session:
        alert, caregiver = session.get(Alert, alert_id), session.get(Caregiver, caregiver_id)
        if alert is None:
            raise NotFound("alert", str(alert_id))
        if caregiver is None:
            raise NotFound("caregiver", str(caregiver_id))
        return alert, caregiver


async def _estimate(
    db: Database, bus: LiveBus, travel: TravelModel, alert_id: uuid.UUID, caregiver_id: uuid.UUID
) -> operators.Estimate:
    """From the caregiver's live position, or their home when the app is silent."""
    alert, caregiver = await db.run(_rows, db, alert_id, caregiver_id)
    live = (await bus.positions([str(caregiver_id)])).get(str(caregiver_id))
    origin = (
        GeoPoint(live.lat, live.lon) if live else GeoPoint(caregiver.home_lat, caregiver.home_lon)
    )
    target = GeoPoint(alert.lat, alert.lon)
    try:
        mode = TransportMode(caregiver.transport)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, "caregiver has no known transport") from exc
    return operators.Estimate(
        travel.travel_time_s(origin, target, mode), great_circle_m(origin, target)
    )


@router.post("/{alert_id}/handover")
async def hand_over(
    db: DatabaseDep,
    publish: PublishDep,
    principal: BoardDep,
    request: Request,
    alert_id: uuid.UUID,
    body: HandOver,
) -> dict[str, Any]:
    """Hand the alert to 120 / 110 / 119, recorded with who and when; answers the
    sheet to read out. The alert stays open until the outcome is in."""
    await _act(db, publish, request, principal, alert_id, handover.hand_over, body.service)
    view: dict[str, Any] = await db.run(handover.view, db, alert_id)
    return view


@router.post("/{alert_id}/handover/outcome", response_model=Handover)
async def handover_outcome(
    db: DatabaseDep,
    publish: PublishDep,
    principal: BoardDep,
    request: Request,
    alert_id: uuid.UUID,
    body: HandoverOutcome,
) -> Handover:
    """What the emergency service said it would do (ambulance sent, advice only...)."""
    return await _act(
        db, publish, request, principal, alert_id, handover.record_outcome, body.outcome, body.note
    )


@router.post("/{alert_id}/handover/arrived", response_model=Handover)
async def handover_arrived(
    db: DatabaseDep, publish: PublishDep, principal: BoardDep, request: Request, alert_id: uuid.UUID
) -> Handover:
    """The ambulance (police, fire engine) is at the door."""
    return await _act(db, publish, request, principal, alert_id, handover.record_arrival)


@router.get("/{alert_id}/handover")
async def handovers(
    db: DatabaseDep, principal: BoardDep, request: Request, alert_id: uuid.UUID
) -> dict[str, Any]:
    """The alert's hand-overs, oldest first, and the sheet to read out."""
    await _guard(db, request, principal, alert_id)
    view: dict[str, Any] = await db.run(handover.view, db, alert_id)
    return view
