"""The facts of a month the monthly report counts: its alerts (answered, a caregiver
sent, on scene by the deadline, the closure code), its visits' follow-up ratings,
the devices' outages, and where elders and caregivers are, for one district or the
whole city."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, date, datetime

from sqlalchemy import and_, exists, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from dispatch.domain.device_rules import DEVICE_OFFLINE
from dispatch.domain.model import GeoPoint, TransportMode
from dispatch.domain.monthly_kpis import AlertFact, AnswerStep, Outage, first_answer
from dispatch.domain.service_circle import Responder
from dispatch.store.alert_history import CLOSED_STATES, TAKEN_ORDER_STATES, on_scene
from dispatch.store.tables import (
    Alert,
    AuditRecord,
    Caregiver,
    Device,
    Elder,
    FollowUp,
    Order,
    Visit,
)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _answer_steps(
    session: Session, start: datetime, end: datetime, district: str | None
) -> dict[uuid.UUID, list[AnswerStep]]:
    """The audit steps that may answer the month's alerts (``counts_as_answer`` decides)."""
    query = (
        sa_select(
            col(AuditRecord.alert_id),
            col(AuditRecord.at),
            col(AuditRecord.action),
            col(AuditRecord.entity),
            col(AuditRecord.to_state),
        )
        .join(Alert, col(Alert.id) == col(AuditRecord.alert_id))
        .where(
            col(Alert.raised_at) >= start,
            col(Alert.raised_at) < end,
            or_(
                col(AuditRecord.action).in_(["acknowledged", "call_answered"]),
                and_(col(AuditRecord.entity) == "order", col(AuditRecord.to_state) == "accepted"),
            ),
        )
    )
    if district is not None:
        query = query.where(col(Alert.district) == district)
    steps: dict[uuid.UUID, list[AnswerStep]] = defaultdict(list)
    for alert_id, at, action, entity, to_state in session.execute(query).all():
        steps[alert_id].append(AnswerStep(_utc(at), action, entity, to_state))
    return steps


def alert_facts(
    session: Session,
    start: datetime,
    end: datetime,
    district: str | None,
    talking_kinds: Collection[str] = (),
) -> list[AlertFact]:
    """The alerts raised in [start, end), of ``district`` (None: every district);
    an alert from a device of ``talking_kinds`` is answered by a connected call."""
    sent = (
        exists()
        .where(
            col(Order.alert_id) == col(Alert.id),
            col(Order.state).in_([s.value for s in TAKEN_ORDER_STATES]),
        )
        .correlate(Alert)
    )
    query = (
        sa_select(
            col(Alert.id),
            col(Alert.raised_at),
            col(Device.kind),
            col(Alert.closure_code),
            sent,
            on_scene(by_deadline=True),
        )
        .outerjoin(Device, col(Device.id) == col(Alert.device_id))
        .where(col(Alert.raised_at) >= start, col(Alert.raised_at) < end)
    )
    if district is not None:
        query = query.where(col(Alert.district) == district)
    steps = _answer_steps(session, start, end, district)
    return [
        AlertFact(
            _utc(raised),
            first_answer(steps.get(alert_id, ()), device_talks=kind in talking_kinds),
            code,
            bool(was_sent),
            bool(reached),
        )
        for alert_id, raised, kind, code, was_sent, reached in session.execute(query).all()
    ]


def device_outages(
    session: Session, start: datetime, end: datetime, district: str | None
) -> tuple[int, list[Outage]]:
    """The active devices of the district's elders (as registered now) and their
    outages touching [start, end): each "device offline" alert, from its raising to
    its closing (the device heard from again)."""
    devices = sa_select(col(Device.id)).where(col(Device.active).is_(True))
    if district is not None:
        devices = devices.join(Elder, col(Elder.id) == col(Device.elder_id)).where(
            col(Elder.district) == district
        )
    count = len(session.execute(devices).all())
    closing = (
        sa_select(col(AuditRecord.at))
        .where(
            col(AuditRecord.alert_id) == col(Alert.id),
            col(AuditRecord.entity) == "alert",
            col(AuditRecord.to_state).in_([s.value for s in CLOSED_STATES]),
        )
        .correlate(Alert)
        .order_by(col(AuditRecord.at))
        .limit(1)
        .scalar_subquery()
    )
    query = sa_select(col(Alert.raised_at), closing).where(
        col(Alert.alert_type) == DEVICE_OFFLINE,
        col(Alert.raised_at) < end,
        col(Alert.device_id).in_(devices),
    )
    outages = [
        Outage(_utc(raised), _utc(closed) if closed else None)
        for raised, closed in session.execute(query).all()
    ]
    return count, [o for o in outages if o.end is None or o.end > start]


def elder_points(session: Session, district: str | None) -> list[GeoPoint]:
    """Where the active elders of ``district`` (None: all) live."""
    query = sa_select(col(Elder.lat), col(Elder.lon)).where(col(Elder.active).is_(True))
    if district is not None:
        query = query.where(col(Elder.district) == district)
    return [GeoPoint(float(lat), float(lon)) for lat, lon in session.execute(query).all()]


def caregiver_bases(session: Session) -> list[Responder]:
    """Where each active caregiver sets off from (a station, else home), citywide:
    help may come across a district's border."""
    rows = session.execute(
        sa_select(
            col(Caregiver.home_lat),
            col(Caregiver.home_lon),
            col(Caregiver.station_lat),
            col(Caregiver.station_lon),
            col(Caregiver.transport),
        ).where(col(Caregiver.active).is_(True))
    ).all()
    bases = []
    for home_lat, home_lon, station_lat, station_lon, transport in rows:
        known = {m.value for m in TransportMode}
        mode = TransportMode(transport) if transport in known else TransportMode.EBIKE
        if station_lat is not None and station_lon is not None:
            bases.append(Responder(GeoPoint(float(station_lat), float(station_lon)), mode))
        else:
            bases.append(Responder(GeoPoint(float(home_lat), float(home_lon)), mode))
    return bases


def ratings(session: Session, first: date, last: date, district: str | None) -> list[int]:
    """Follow-up satisfaction (1-5) of the visits made on days first..last."""
    query = (
        sa_select(col(FollowUp.satisfaction))
        .join(Visit, col(Visit.id) == col(FollowUp.visit_id))
        .join(Elder, col(Elder.id) == col(Visit.elder_id))
        .where(col(Visit.day).between(first, last), col(FollowUp.satisfaction).is_not(None))
    )
    if district is not None:
        query = query.where(col(Elder.district) == district)
    return [int(s) for (s,) in session.execute(query).all()]
