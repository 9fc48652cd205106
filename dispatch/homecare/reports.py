"""The care bureau's reports: monthly visit coverage and providers' statements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from sqlmodel import Session, col, select

from dispatch.domain.access import Principal, Role
from dispatch.domain.lifecycle import VisitState
from dispatch.homecare.billing import BilledVisit, StatementLine, statement
from dispatch.homecare.coverage import Coverage, coverage, month_of
from dispatch.homecare.menu import ServiceMenu
from dispatch.homecare.planner import month_visits
from dispatch.store.reads import ELDER_PLACE, in_areas
from dispatch.store.tables import Caregiver, Elder, FollowUp, Provider, Visit

UNKNOWN_PROVIDER = "(none)"


@dataclass(frozen=True)
class CoverageReport:
    coverage: Coverage
    at_risk: list[dict[str, str]]  # who, with enough to call or visit them
    unvisited: list[dict[str, str]]


def _card(elder: Elder) -> dict[str, str]:
    return {
        "id": str(elder.id),
        "name": elder.name,
        "address": elder.address,
        "phone": elder.phone,
        "district": elder.district,
    }


def coverage_report(
    session: Session,
    menu: ServiceMenu,
    on: date,
    include: Callable[[Elder], bool] | None = None,
) -> CoverageReport:
    """Where ``on``'s month stands: visited, visit planned later, and at risk; of the
    elders ``include`` accepts (an operator's areas), or of all."""
    first, last = month_of(on)
    elders = {
        e.id: e
        for e in session.exec(select(Elder).where(col(Elder.regular_visits).is_(True)))
        if include is None or include(e)
    }
    visited, _ = month_visits(session, first, last)
    _, waiting = month_visits(session, on, last)
    flagged = sorted(elders, key=lambda e: elders[e].name)
    result = coverage(on, flagged, visited, waiting, at_risk_days=menu.at_risk_days)
    unvisited = [e for e in flagged if e not in visited]
    return CoverageReport(
        coverage=result,
        at_risk=[_card(elders[e]) for e in result.at_risk],
        unvisited=[_card(elders[e]) for e in unvisited],
    )


def monthly_statement(
    session: Session, menu: ServiceMenu, month: date, principal: Principal
) -> list[StatementLine]:
    """Per provider and item: visits, hours, subsidy and self-pay, exceptions,
    satisfaction; of the visits to elders of the principal's areas."""
    first, last = month_of(month)
    query = (
        select(Visit)
        .join(Elder, col(Elder.id) == col(Visit.elder_id))
        .where(
            col(Visit.day).between(first, last),
            col(Visit.state).in_((VisitState.DONE, VisitState.MISSED)),
        )
    )
    if principal.role is Role.PROVIDER_STAFF:  # their own caregivers' visits
        query = query.join(Caregiver, col(Caregiver.id) == col(Visit.caregiver_id)).where(
            col(Caregiver.provider_id) == principal.provider_id
        )
    else:
        query = in_areas(query, principal, ELDER_PLACE)
    visits = session.exec(query).all()
    # The registry's provider when the caregiver has one, else the name typed in.
    registered = {p.id: p.name for p in session.exec(select(Provider))}
    providers: dict[UUID, str] = {
        c.id: (registered.get(c.provider_id) if c.provider_id else None)
        or c.provider
        or UNKNOWN_PROVIDER
        for c in session.exec(select(Caregiver))
    }
    ratings = {
        f.visit_id: f.satisfaction
        for f in session.exec(
            select(FollowUp).where(col(FollowUp.visit_id).in_([v.id for v in visits]))
        )
    }
    return statement(
        BilledVisit(
            provider=providers.get(v.caregiver_id, UNKNOWN_PROVIDER)
            if v.caregiver_id
            else UNKNOWN_PROVIDER,
            item=v.service,
            minutes=_minutes(v, menu),
            subsidy_fen=v.subsidy_fen,
            self_pay_fen=v.self_pay_fen,
            exception=v.exception,
            satisfaction=ratings.get(v.id),
        )
        for v in visits
    )


def _minutes(visit: Visit, menu: ServiceMenu) -> float:
    """Caregiver time on the visit as the app recorded it (else the menu's duration),
    twice over for a visit two caregivers made."""
    if visit.state is VisitState.MISSED:
        return 0.0
    if visit.started_at and visit.finished_at:
        minutes = max(0.0, (visit.finished_at - visit.started_at).total_seconds() / 60)
    else:
        minutes = menu.item(visit.service).duration_s / 60
    return minutes * (2 if visit.partner_id else 1)
