"""What the care map shows of each elder (grade, living alone, hardship, open service
needs, risk signals), the facilities, and the caregivers' records, read in a
handful of queries for the whole city."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from dispatch.domain.lifecycle import RequestState, VisitState
from dispatch.store.tables import (
    Alert,
    Assessment,
    Caregiver,
    Device,
    Elder,
    Facility,
    FollowUp,
    ServiceRequest,
    Visit,
)

# What "repeated" and "recent" mean for the risk signals.
RECENT_DAYS = 30
REPEATED_OFFLINE = 2  # "device offline" alerts in RECENT_DAYS
OPEN_REQUEST_STATES = (RequestState.REQUESTED, RequestState.APPROVED)


@dataclass
class ElderOnMap:
    id: uuid.UUID
    lat: float
    lon: float
    district: str
    street: str
    community: str
    care_level: int
    grade: str | None  # the latest capability assessment's
    alone: bool
    hardship: list[str]
    open_needs: int  # service requests requested or approved
    risks: list[str] = field(default_factory=list)


def elders_on_map(session: Session, now: datetime, today: date) -> list[ElderOnMap]:
    """Every active elder with a position, with their risk signals:
    ``not_worn`` (a wearable taken off), ``offline`` (a device offline now),
    ``repeated_offline`` (2+ "device offline" alerts in 30 days), ``inactivity``
    (an inactivity alert in 30 days), ``nobody_home`` (a visit found nobody in 30
    days), ``no_contact_30d`` (no visit done, follow-up call answered or alert in 30
    days)."""
    since = now - timedelta(days=RECENT_DAYS)
    since_day = today - timedelta(days=RECENT_DAYS)
    elders = session.execute(sa_select(Elder).where(col(Elder.active).is_(True))).scalars().all()

    grades: dict[uuid.UUID, str] = {}
    for elder_id, grade in session.execute(
        sa_select(col(Assessment.elder_id), col(Assessment.grade)).order_by(
            col(Assessment.assessed_on), col(Assessment.recorded_at)
        )
    ).all():
        grades[elder_id] = grade  # the latest wins

    needs = Counter(
        dict(
            session.execute(
                sa_select(col(ServiceRequest.elder_id), func.count())
                .where(col(ServiceRequest.state).in_([s.value for s in OPEN_REQUEST_STATES]))
                .group_by(col(ServiceRequest.elder_id))
            ).all()
        )
    )

    risks: defaultdict[uuid.UUID, set[str]] = defaultdict(set)
    for elder_id, kind, worn, online in session.execute(
        sa_select(
            col(Device.elder_id), col(Device.kind), col(Device.worn), col(Device.online)
        ).where(col(Device.active).is_(True), col(Device.elder_id).is_not(None))
    ).all():
        if kind == "wearable" and worn is False:
            risks[elder_id].add("not_worn")
        if online is False:
            risks[elder_id].add("offline")

    contacted: set[uuid.UUID] = set()
    offline_alerts: Counter[uuid.UUID] = Counter()
    for elder_id, alert_type in session.execute(
        sa_select(col(Alert.elder_id), col(Alert.alert_type)).where(
            col(Alert.raised_at) >= since, col(Alert.elder_id).is_not(None)
        )
    ).all():
        if alert_type == "device_offline":
            offline_alerts[elder_id] += 1
            continue  # the device spoke, not the elder
        contacted.add(elder_id)
        if alert_type == "inactivity":
            risks[elder_id].add("inactivity")
    for elder_id, n in offline_alerts.items():
        if n >= REPEATED_OFFLINE:
            risks[elder_id].add("repeated_offline")

    for elder_id, state, exception in session.execute(
        sa_select(col(Visit.elder_id), col(Visit.state), col(Visit.exception)).where(
            col(Visit.day) >= since_day, col(Visit.day) <= today
        )
    ).all():
        if exception == "nobody_home":
            risks[elder_id].add("nobody_home")
        if state == VisitState.DONE:
            contacted.add(elder_id)
    contacted.update(
        elder_id
        for (elder_id,) in session.execute(
            sa_select(col(Visit.elder_id))
            .join(FollowUp, col(FollowUp.visit_id) == col(Visit.id))
            .where(col(FollowUp.reached).is_(True), col(FollowUp.done_at) >= since)
        ).all()
    )

    out = []
    for e in elders:
        flags = risks.get(e.id, set())
        if e.id not in contacted:
            flags = flags | {"no_contact_30d"}
        out.append(
            ElderOnMap(
                e.id,
                e.lat,
                e.lon,
                e.district,
                e.street,
                e.community,
                e.care_level,
                grades.get(e.id),
                e.living_situation == "alone",
                list(e.hardship),
                needs.get(e.id, 0),
                sorted(flags),
            )
        )
    return out


def facilities_on_map(session: Session) -> list[Facility]:
    return list(
        session.execute(sa_select(Facility).where(col(Facility.active).is_(True))).scalars().all()
    )


def active_caregivers(session: Session) -> list[Caregiver]:
    return list(
        session.execute(sa_select(Caregiver).where(col(Caregiver.active).is_(True))).scalars().all()
    )
