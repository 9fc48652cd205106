"""A visit in the caregiver's hands: start, finish, exceptions; then the follow-up call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.domain.actor import Actor
from dispatch.domain.catalog import Catalog
from dispatch.domain.lifecycle import VisitState, advance_visit
from dispatch.domain.model import GeoPoint, great_circle_m
from dispatch.errors import NotFound
from dispatch.homecare.billing import charge
from dispatch.homecare.coverage import month_of
from dispatch.homecare.followup import needs_follow_up
from dispatch.homecare.menu import ServiceMenu
from dispatch.store.audit import raise_alert
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Elder, FollowUp, Visit


class VisitException(StrEnum):
    NOBODY_HOME = "nobody_home"
    ELDER_UNWELL = "elder_unwell"


# The alert type (config/alert_types.yaml) each exception raises for the operators.
EXCEPTION_ALERTS = {
    VisitException.NOBODY_HOME: "visit_nobody_home",
    VisitException.ELDER_UNWELL: "visit_elder_unwell",
}


def _mine(session: Session, visit_id: UUID, caregiver_id: UUID) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None or caregiver_id not in (visit.caregiver_id, visit.partner_id):
        raise NotFound("visit", str(visit_id))
    return visit


def _elder(session: Session, visit: Visit) -> Elder:
    elder = session.get(Elder, visit.elder_id)
    assert elder is not None  # foreign key
    return elder


def start(
    db: Database,
    menu: ServiceMenu,
    caregiver_id: UUID,
    visit_id: UUID,
    position: GeoPoint,
    *,
    at: datetime,
) -> Visit:
    """Start at the door; the distance from the elder's address is kept for review."""
    with db.session() as session:
        visit = _mine(session, visit_id, caregiver_id)
        visit.state = advance_visit(visit.state, VisitState.IN_PROGRESS)
        elder = _elder(session, visit)
        visit.started_at = at
        visit.start_distance_m = round(great_circle_m(position, GeoPoint(elder.lat, elder.lon)), 1)
        session.add(visit)
        return visit


def away_from_address(visit: Visit, menu: ServiceMenu) -> bool:
    return visit.start_distance_m is not None and visit.start_distance_m > menu.start_radius_m


def subsidy_used_fen(session: Session, visit: Visit) -> int:
    """Subsidy the elder's other finished visits used this calendar month."""
    first, last = month_of(visit.day)
    used = session.exec(
        select(func.coalesce(func.sum(Visit.subsidy_fen), 0)).where(
            Visit.elder_id == visit.elder_id,
            col(Visit.day).between(first, last),
            Visit.state == VisitState.DONE,
            Visit.id != visit.id,
        )
    ).one()
    return int(used)


def finish(
    db: Database,
    menu: ServiceMenu,
    caregiver_id: UUID,
    visit_id: UUID,
    notes: str,
    *,
    at: datetime,
) -> Visit:
    """Done: priced against the elder's subsidy left this month, maybe sampled for a call."""
    with db.session() as session:
        visit = _mine(session, visit_id, caregiver_id)
        visit.state = advance_visit(visit.state, VisitState.DONE)
        visit.finished_at, visit.notes = at, notes
        elder = _elder(session, visit)
        item = menu.item(visit.service)
        left = menu.monthly_subsidy_fen(elder.care_level, elder.economic_status) - subsidy_used_fen(
            session, visit
        )
        paid = charge(item.price_fen, subsidised=item.subsidised, subsidy_left_fen=left)
        visit.price_fen, visit.subsidy_fen, visit.self_pay_fen = (
            item.price_fen,
            paid.subsidy_fen,
            paid.self_pay_fen,
        )
        session.add(visit)
        earlier = session.exec(
            select(Visit.id).where(
                Visit.elder_id == visit.elder_id,
                Visit.service == visit.service,
                Visit.state == VisitState.DONE,
                Visit.id != visit.id,
            )
        ).first()
        first = earlier is None
        if needs_follow_up(visit.id, first_of_its_kind=first, share=menu.follow_up_share):
            reason = "first_visit" if first else "sample"
            session.add(FollowUp(visit_id=visit.id, reason=reason, created_at=at))
        return visit


def report_exception(
    db: Database,
    catalog: Catalog,
    caregiver_id: UUID,
    visit_id: UUID,
    kind: VisitException,
    notes: str,
    *,
    at: datetime,
) -> tuple[Visit, Alert]:
    """Nobody home, or the elder unwell: the visit ends as missed and the operators get an alert."""
    with db.session() as session:
        visit = _mine(session, visit_id, caregiver_id)
        visit.state = advance_visit(visit.state, VisitState.MISSED)
        visit.finished_at, visit.notes, visit.exception = at, notes, kind.value
        elder = _elder(session, visit)
        alert = raise_alert(
            session,
            catalog.alert_types[EXCEPTION_ALERTS[kind]],
            device_id=None,
            elder=elder,
            lat=elder.lat,
            lon=elder.lon,
            at=at,
            device_ts=at,
            actor=Actor.caregiver(caregiver_id),
        )
        visit.alert_id = alert.id
        session.add(visit)
        return visit, alert


@dataclass(frozen=True, slots=True)
class CallOutcome:
    reached: bool
    satisfaction: int | None  # 1-5, when reached
    comment: str = ""

    def __post_init__(self) -> None:
        if self.satisfaction is not None and not 1 <= self.satisfaction <= 5:
            raise ValueError("satisfaction is 1 to 5")
        if self.satisfaction is not None and not self.reached:
            raise ValueError("satisfaction needs the elder or family reached")


def record_follow_up(
    db: Database, visit_id: UUID, operator: str, outcome: CallOutcome, *, at: datetime
) -> FollowUp:
    """An operator's follow-up call; a visit not sampled can still be called on."""
    with db.session() as session:
        visit = session.get(Visit, visit_id)
        if visit is None or visit.state is not VisitState.DONE:
            raise NotFound("finished visit", str(visit_id))
        call = session.get(FollowUp, visit_id) or FollowUp(
            visit_id=visit_id, reason="operator", created_at=at
        )
        call.done_at, call.operator = at, operator
        call.reached, call.satisfaction, call.comment = (
            outcome.reached,
            outcome.satisfaction,
            outcome.comment,
        )
        session.add(call)
        return call
