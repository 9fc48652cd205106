"""The visit history read model: home visits with the filters the care bureau's
reports ask for, scoped to the principal's areas by where the elder lives, paged in
the database (the alert history's companion, dispatch/store/alert_history.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from dispatch.domain.access import Principal
from dispatch.domain.areas import parts_of
from dispatch.domain.lifecycle import VisitState
from dispatch.store.reads import ELDER_PLACE, in_areas, under_areas
from dispatch.store.tables import Caregiver, Elder, FollowUp, Provider, Visit

COLUMNS = (
    "visit_id",
    "day",
    "service",
    "state",
    "district",
    "street",
    "community",
    "elder_id",
    "caregiver",
    "partner",
    "provider",
    "window_start",
    "window_end",
    "planned_start",
    "started_at",
    "finished_at",
    "start_distance_m",
    "away_from_address",
    "exception",
    "satisfaction",
    "price_fen",
    "subsidy_fen",
    "self_pay_fen",
)

_Lead = aliased(Caregiver, name="lead")
_Partner = aliased(Caregiver, name="partner")


@dataclass(frozen=True, slots=True)
class VisitFilter:
    """What the history is narrowed to; None (or "") leaves a filter off."""

    since: date | None = None  # on or after this (local) day
    until: date | None = None  # before this day
    area: str | None = None  # where the elder lives, at any level (dispatch/domain/areas.py)
    service: str | None = None  # the menu item's code
    state: VisitState | None = None
    exception: str | None = None  # nobody_home | elder_unwell
    caregiver_id: uuid.UUID | None = None  # the lead or the second caregiver
    provider_id: uuid.UUID | None = None  # employs the lead or the second caregiver
    away: bool | None = None  # started farther from the address than the menu allows

    def __post_init__(self) -> None:
        if self.area is not None:
            parts_of(self.area)  # ValueError for a malformed key
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must come before until")


@dataclass(frozen=True, slots=True)
class VisitRow:
    visit_id: uuid.UUID
    day: date
    service: str
    state: str
    district: str
    street: str
    community: str
    elder_id: uuid.UUID
    caregiver: str
    partner: str
    provider: str
    window_start: datetime
    window_end: datetime
    planned_start: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    start_distance_m: float | None
    away_from_address: bool | None  # None: not started
    exception: str | None
    satisfaction: int | None  # the follow-up call's, 1-5
    price_fen: int
    subsidy_fen: int
    self_pay_fen: int

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass(frozen=True, slots=True)
class VisitPage:
    total: int
    rows: list[VisitRow]


def _filtered(principal: Principal, f: VisitFilter, away_radius_m: float, *columns: Any) -> Any:
    query = in_areas(
        sa_select(*columns)
        .select_from(Visit)
        .join(Elder, col(Elder.id) == col(Visit.elder_id))
        .outerjoin(_Lead, col(_Lead.id) == col(Visit.caregiver_id))
        .outerjoin(_Partner, col(_Partner.id) == col(Visit.partner_id)),
        principal,
        ELDER_PLACE,
    )
    if f.since is not None:
        query = query.where(col(Visit.day) >= f.since)
    if f.until is not None:
        query = query.where(col(Visit.day) < f.until)
    if f.area is not None:
        query = query.where(under_areas([f.area], ELDER_PLACE))
    if f.service:
        query = query.where(col(Visit.service) == f.service)
    if f.state is not None:
        query = query.where(col(Visit.state) == f.state)
    if f.exception:
        query = query.where(col(Visit.exception) == f.exception)
    if f.caregiver_id is not None:
        query = query.where(
            or_(col(Visit.caregiver_id) == f.caregiver_id, col(Visit.partner_id) == f.caregiver_id)
        )
    if f.provider_id is not None:
        query = query.where(
            or_(col(_Lead.provider_id) == f.provider_id, col(_Partner.provider_id) == f.provider_id)
        )
    if f.away is True:
        query = query.where(col(Visit.start_distance_m) > away_radius_m)
    elif f.away is False:
        query = query.where(col(Visit.start_distance_m) <= away_radius_m)
    return query


def visit_history(
    session: Session,
    principal: Principal,
    f: VisitFilter,
    *,
    away_radius_m: float,
    limit: int | None,
    offset: int = 0,
) -> VisitPage:
    """The page of visits matching ``f`` to elders in the principal's areas, newest
    day first; ``limit`` None for all of them (exports). ``away_radius_m``: how far
    from the address a visit may start (config/services.yaml, start_radius_m)."""
    matching = _filtered(principal, f, away_radius_m, col(Visit.id)).subquery()
    total = session.execute(sa_select(func.count()).select_from(matching)).scalar_one()
    provider = aliased(Provider, name="lead_provider")
    query = (
        _filtered(
            principal,
            f,
            away_radius_m,
            Visit,
            *ELDER_PLACE,
            _Lead.name,
            _Partner.name,
            func.coalesce(provider.name, _Lead.provider),
            col(FollowUp.satisfaction),
        )
        .outerjoin(provider, col(provider.id) == col(_Lead.provider_id))
        .outerjoin(FollowUp, col(FollowUp.visit_id) == col(Visit.id))
        .order_by(col(Visit.day).desc(), col(Visit.window_start).desc(), col(Visit.id))
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    rows = [
        VisitRow(
            visit_id=v.id,
            day=v.day,
            service=v.service,
            state=str(v.state),
            district=district,
            street=street,
            community=community,
            elder_id=v.elder_id,
            caregiver=lead or "",
            partner=partner or "",
            provider=provider_name or "",
            window_start=v.window_start,
            window_end=v.window_end,
            planned_start=v.planned_start,
            started_at=v.started_at,
            finished_at=v.finished_at,
            start_distance_m=v.start_distance_m,
            away_from_address=None
            if v.start_distance_m is None
            else v.start_distance_m > away_radius_m,
            exception=v.exception,
            satisfaction=satisfaction,
            price_fen=v.price_fen,
            subsidy_fen=v.subsidy_fen,
            self_pay_fen=v.self_pay_fen,
        )
        for (
            v,
            district,
            street,
            community,
            lead,
            partner,
            provider_name,
            satisfaction,
        ) in session.execute(query).all()
    ]
    return VisitPage(total=int(total), rows=rows)
