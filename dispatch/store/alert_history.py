"""The alert history read model: closed and open alerts with the filters the care
bureau's reports ask for, scoped to the principal's areas, paged in the database.

Arrival and closing times come from the audit trail (the first order on scene, the
alert's move to resolved or cancelled), so they are what the timeline shows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from dispatch.domain.access import Principal
from dispatch.domain.areas import parts_of
from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.store.reads import ALERT_PLACE, in_areas, under_areas
from dispatch.store.tables import Alert, AuditRecord, Caregiver, Order

# Orders that put a caregiver on the alert (offers declined or let expire do not).
TAKEN_ORDER_STATES = (
    OrderState.ACCEPTED,
    OrderState.EN_ROUTE,
    OrderState.ON_SCENE,
    OrderState.COMPLETED,
)
CLOSED_STATES = (AlertState.RESOLVED, AlertState.CANCELLED)

COLUMNS = (
    "alert_id",
    "raised_at",
    "alert_type",
    "severity",
    "state",
    "district",
    "street",
    "community",
    "elder_id",
    "device_id",
    "acknowledged_by",
    "acknowledged_at",
    "deadline_at",
    "arrived_at",
    "reached_by_deadline",
    "closed_at",
    "closure_code",
    "caregivers",
)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """What the history is narrowed to; None (or "") leaves a filter off."""

    since: datetime | None = None  # raised at or after
    until: datetime | None = None  # raised before
    area: str | None = None  # an area key at any level (dispatch/domain/areas.py)
    alert_type: str | None = None
    severity: str | None = None
    closure_code: str | None = None
    operator: str | None = None  # acknowledged_by
    caregiver_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None  # employs a caregiver who took an order on it
    reached: bool | None = None  # by the deadline; alerts not yet judged match neither

    def __post_init__(self) -> None:
        if self.area is not None:
            parts_of(self.area)  # ValueError for a malformed key
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must come before until")


@dataclass(frozen=True, slots=True)
class HistoryRow:
    alert_id: uuid.UUID
    raised_at: datetime
    alert_type: str
    severity: str
    state: str
    district: str
    street: str
    community: str
    elder_id: uuid.UUID | None
    device_id: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    deadline_at: datetime
    arrived_at: datetime | None
    reached_by_deadline: bool | None  # None: deadline not come and nobody there yet
    closed_at: datetime | None
    closure_code: str | None
    caregivers: tuple[str, ...]  # names of those who took an order on it

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass(frozen=True, slots=True)
class HistoryPage:
    total: int
    rows: list[HistoryRow]


def _first_audit(entity: str, states: list[str]) -> Any:
    """When the alert's first audit step of ``entity`` into ``states`` was (a correlated
    subquery: an index lookup per alert shown, not an aggregate over the whole trail)."""
    return (
        sa_select(func.min(AuditRecord.at))
        .where(
            col(AuditRecord.alert_id) == col(Alert.id),
            col(AuditRecord.entity) == entity,
            col(AuditRecord.to_state).in_(states),
        )
        .correlate(Alert)
        .scalar_subquery()
    )


def _arrival() -> Any:
    return _first_audit("order", ["on_scene"])


def _closing() -> Any:
    return _first_audit("alert", [s.value for s in CLOSED_STATES])


def _filtered(principal: Principal, f: AlertFilter, now: datetime, *columns: Any) -> Any:
    """A select of ``columns`` over the alerts matching ``f`` in the principal's areas."""
    query = in_areas(sa_select(*columns).select_from(Alert), principal)
    if f.since is not None:
        query = query.where(col(Alert.raised_at) >= f.since)
    if f.until is not None:
        query = query.where(col(Alert.raised_at) < f.until)
    if f.area is not None:
        query = query.where(under_areas([f.area], ALERT_PLACE))
    equal: list[tuple[Any, str | None]] = [
        (col(Alert.alert_type), f.alert_type),
        (col(Alert.severity), f.severity),
        (col(Alert.closure_code), f.closure_code),
        (col(Alert.acknowledged_by), f.operator),
    ]
    for column, wanted in equal:
        if wanted:
            query = query.where(column == wanted)
    if f.caregiver_id is not None:
        query = query.where(
            exists().where(
                col(Order.alert_id) == col(Alert.id),
                col(Order.caregiver_id) == f.caregiver_id,
                col(Order.state).in_([s.value for s in TAKEN_ORDER_STATES]),
            )
        )
    if f.provider_id is not None:
        query = query.where(
            exists().where(
                col(Order.alert_id) == col(Alert.id),
                col(Order.caregiver_id) == col(Caregiver.id),
                col(Caregiver.provider_id) == f.provider_id,
                col(Order.state).in_([s.value for s in TAKEN_ORDER_STATES]),
            )
        )
    if f.reached is True:
        query = query.where(on_scene(by_deadline=True))
    elif f.reached is False:
        # Nobody on scene by the deadline, and the deadline passed or somebody came late.
        # EXISTS, not the first arrival compared: an index probe per alert, and
        # PostgreSQL runs it as an anti-join.
        query = query.where(
            ~on_scene(by_deadline=True),
            or_(col(Alert.deadline_at) <= now, on_scene(by_deadline=False)),
        )
    return query


def on_scene(*, by_deadline: bool) -> Any:
    """Some order of the alert went on scene (by its deadline, or at all)."""
    cond = [
        col(AuditRecord.alert_id) == col(Alert.id),
        col(AuditRecord.entity) == "order",
        col(AuditRecord.to_state) == "on_scene",
    ]
    if by_deadline:
        cond.append(col(AuditRecord.at) <= col(Alert.deadline_at))
    # Selecting only the key keeps the probe inside the index (no read of the row).
    return sa_select(col(AuditRecord.id)).where(*cond).correlate(Alert).exists()


def _caregiver_names(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    if not ids:
        return {}
    rows = session.execute(
        sa_select(col(Order.alert_id), col(Caregiver.name))
        .join(Caregiver, col(Caregiver.id) == col(Order.caregiver_id))
        .where(
            col(Order.alert_id).in_(ids),
            col(Order.state).in_([s.value for s in TAKEN_ORDER_STATES]),
        )
        .order_by(col(Order.offered_at))
    ).all()
    names: dict[uuid.UUID, list[str]] = {}
    for alert_id, name in rows:
        if name not in names.setdefault(alert_id, []):
            names[alert_id].append(name)
    return names


def alert_history(
    session: Session,
    principal: Principal,
    f: AlertFilter,
    *,
    now: datetime,
    limit: int | None,
    offset: int = 0,
) -> HistoryPage:
    """The page of alerts matching ``f`` in the principal's areas, newest first;
    ``limit`` None for all of them (exports)."""
    matching = _filtered(principal, f, now, col(Alert.id)).subquery()
    total = session.execute(sa_select(func.count()).select_from(matching)).scalar_one()
    query = _filtered(principal, f, now, Alert, _arrival(), _closing())
    query = query.order_by(col(Alert.raised_at).desc(), col(Alert.id)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    found = session.execute(query).all()
    names = _caregiver_names(session, [row[0].id for row in found])
    rows = []
    for alert, arrived_at, closed_at in found:
        arrived = _utc(arrived_at)
        if arrived is not None:
            reached: bool | None = arrived <= alert.deadline_at
        else:
            reached = False if alert.deadline_at <= now else None
        rows.append(
            HistoryRow(
                alert_id=alert.id,
                raised_at=alert.raised_at,
                alert_type=alert.alert_type,
                severity=alert.severity,
                state=str(alert.state),
                district=alert.district,
                street=alert.street,
                community=alert.community,
                elder_id=alert.elder_id,
                device_id=alert.device_id,
                acknowledged_by=alert.acknowledged_by,
                acknowledged_at=alert.acknowledged_at,
                deadline_at=alert.deadline_at,
                arrived_at=arrived,
                reached_by_deadline=reached,
                closed_at=_utc(closed_at),
                closure_code=alert.closure_code,
                caregivers=tuple(names.get(alert.id, ())),
            )
        )
    return HistoryPage(total=int(total), rows=rows)


def _utc(value: datetime | None) -> datetime | None:
    """An aggregate's datetime may come back without the column's type (naive on SQLite)."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite's min() of a stored timestamp
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def acknowledged_between(
    session: Session, start: datetime, end: datetime
) -> list[tuple[str, datetime, datetime, datetime | None]]:
    """(operator, raised, acknowledged, closed) for alerts acknowledged in [start, end)."""
    rows = session.execute(
        sa_select(
            col(Alert.acknowledged_by),
            col(Alert.raised_at),
            col(Alert.acknowledged_at),
            _closing(),
        ).where(
            col(Alert.acknowledged_by).is_not(None),
            col(Alert.acknowledged_at) >= start,
            col(Alert.acknowledged_at) < end,
        )
    ).all()
    return [(who, raised, acked, _utc(closed)) for who, raised, acked, closed in rows]
