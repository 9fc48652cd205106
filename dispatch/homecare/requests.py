"""Service requests: asked for, approved or refused with a reason, cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from uuid import UUID

from sqlmodel import Session, col, select

from dispatch.domain.lifecycle import (
    MOVABLE_VISIT_STATES,
    RequestState,
    VisitState,
    advance_request,
)
from dispatch.errors import NotFound
from dispatch.homecare.menu import ServiceMenu
from dispatch.homecare.recurrence import Recurrence
from dispatch.store.db import Database
from dispatch.store.tables import Elder, ServiceRequest, Visit

SOURCES = ("operator", "family", "elder")


@dataclass(frozen=True, slots=True)
class NewRequest:
    elder_id: UUID
    item: str
    source: str
    requested_by: str
    first_day: date
    window_start: time
    window_end: time
    weekdays: frozenset[int] = frozenset()
    last_day: date | None = None
    notes: str = ""


def recurrence_of(request: ServiceRequest) -> Recurrence:
    return Recurrence(
        first_day=request.first_day,
        window_start=request.window_start,
        window_end=request.window_end,
        weekdays=frozenset(request.weekdays),
        last_day=request.last_day,
    )


def create(db: Database, menu: ServiceMenu, new: NewRequest, *, at: datetime) -> ServiceRequest:
    """Record a request; raises ValueError for an item, source or window that cannot be."""
    menu.item(new.item)  # KeyError for an unknown item
    if new.source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}")
    Recurrence(new.first_day, new.window_start, new.window_end, new.weekdays, new.last_day)
    with db.session() as session:
        if session.get(Elder, new.elder_id) is None:
            raise NotFound("elder", str(new.elder_id))
        request = ServiceRequest(
            elder_id=new.elder_id,
            item=new.item,
            source=new.source,
            requested_by=new.requested_by,
            first_day=new.first_day,
            last_day=new.last_day,
            weekdays=sorted(new.weekdays),
            window_start=new.window_start,
            window_end=new.window_end,
            notes=new.notes,
            created_at=at,
        )
        session.add(request)
        return request


def _get(session: Session, request_id: UUID) -> ServiceRequest:
    request = session.get(ServiceRequest, request_id)
    if request is None:
        raise NotFound("service request", str(request_id))
    return request


def decide(
    db: Database,
    request_id: UUID,
    target: RequestState,
    *,
    by: str,
    reason: str,
    at: datetime,
) -> ServiceRequest:
    """Approve, refuse (a reason is required) or cancel; IllegalTransition otherwise.

    Cancelling an approved request also cancels its visits not yet begun.
    """
    if target is RequestState.REFUSED and not reason.strip():
        raise ValueError("a refusal needs a reason")
    with db.session() as session:
        request = _get(session, request_id)
        request.state = advance_request(request.state, target)
        request.reason, request.decided_by, request.decided_at = reason, by, at
        session.add(request)
        if target is RequestState.CANCELLED:
            for visit in session.exec(
                select(Visit).where(
                    Visit.request_id == request_id, col(Visit.state).in_(MOVABLE_VISIT_STATES)
                )
            ):
                visit.state = VisitState.CANCELLED
                session.add(visit)
        return request


def listed(session: Session, state: RequestState | None, limit: int = 500) -> list[ServiceRequest]:
    query = select(ServiceRequest).order_by(col(ServiceRequest.created_at).desc()).limit(limit)
    if state is not None:
        query = query.where(ServiceRequest.state == state)
    return list(session.exec(query))
