"""The family page's use cases: the linked elders' alerts told as a story, and a
family member's answer ("I am going" / "I cannot come") put on the alert's timeline
for the operator, with their distance beside the caregiver's."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from dispatch.domain.actor import Actor
from dispatch.domain.family import (
    FamilyAnswer,
    KnownContact,
    Step,
    answer_detail,
    may_answer,
    own_contact,
    story,
)
from dispatch.domain.lifecycle import ACTIVE_ORDER_STATES
from dispatch.domain.live_events import AlertAction
from dispatch.domain.model import GeoPoint
from dispatch.errors import Conflict, NotFound
from dispatch.store.audit import record_note
from dispatch.store.db import Database
from dispatch.store.reads import contacts_of
from dispatch.store.tables import (
    Alert,
    AuditRecord,
    Caregiver,
    Elder,
    ElderContact,
    FamilyLink,
    Notification,
    Order,
)

# What the page lists: every open alert, and the closed ones of the last days.
RECENT = timedelta(days=7)


def elder_ids_of(db: Database, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
    """The elders a family account is linked to (what its socket lets through)."""
    with db.read() as session:
        return frozenset(
            session.exec(select(FamilyLink.elder_id).where(FamilyLink.user_id == user_id)).all()
        )


def _steps(session: Session, alert_id: uuid.UUID) -> list[Step]:
    rows = session.exec(
        select(AuditRecord, Order, Caregiver)
        .outerjoin(Order, col(Order.id) == AuditRecord.order_id)
        .outerjoin(Caregiver, col(Caregiver.id) == Order.caregiver_id)
        .where(AuditRecord.alert_id == alert_id)
        .order_by(col(AuditRecord.at), col(AuditRecord.id))
    ).all()
    return [
        Step(
            entity=record.entity,
            to_state=record.to_state,
            action=record.action,
            at=record.at,
            detail=record.detail,
            caregiver=caregiver.name if caregiver else None,
            eta_at=order.offered_at + timedelta(seconds=order.eta_s) if order else None,
        )
        for record, order, caregiver in rows
    ]


def _told(session: Session, alert: Alert, elder: Elder) -> dict[str, Any]:
    return {
        "id": str(alert.id),
        "elder_id": str(elder.id),
        "elder_name": elder.name,
        "alert_type": alert.alert_type,
        "severity": alert.severity,
        "state": alert.state.value,
        "open": may_answer(alert.state),
        "raised_at": alert.raised_at.isoformat(),
        "closure_code": alert.closure_code,
        "story": [line.as_json() for line in story(_steps(session, alert.id))],
    }


def family_alerts(
    db: Database, user_id: uuid.UUID, *, now: datetime, limit: int = 20
) -> list[dict[str, Any]]:
    """The linked elders' open alerts and those raised in the last week, newest
    first, each with its story."""
    with db.read() as session:
        elder_ids = select(FamilyLink.elder_id).where(FamilyLink.user_id == user_id)
        rows = session.exec(
            select(Alert, Elder)
            .join(Elder, col(Elder.id) == Alert.elder_id)
            .where(col(Alert.elder_id).in_(elder_ids), col(Alert.raised_at) >= now - RECENT)
            .order_by(col(Alert.raised_at).desc())
            .limit(limit)
        ).all()
        return [_told(session, alert, elder) for alert, elder in rows]


def _linked_alert(
    session: Session, user_id: uuid.UUID, alert_id: uuid.UUID
) -> tuple[Alert, Elder, FamilyLink]:
    """The alert, if it is one of a linked elder's; NotFound otherwise (a family
    member learns nothing of alerts that are not theirs)."""
    alert = session.get(Alert, alert_id)
    link = (
        session.exec(
            select(FamilyLink).where(
                FamilyLink.user_id == user_id, FamilyLink.elder_id == alert.elder_id
            )
        ).first()
        if alert is not None and alert.elder_id is not None
        else None
    )
    elder = session.get(Elder, alert.elder_id) if alert and link else None
    if alert is None or link is None or elder is None:
        raise NotFound("alert", str(alert_id))
    return alert, elder, link


# Messages still waiting for their answer: sent, or about to be.
AWAITING = ("queued", "sending", "sent", "delivered")


def _contact_of(session: Session, elder: Elder, who: str, relation: str) -> ElderContact | None:
    """The elder's contact this family member is (docs/contacts.md), if sure."""
    contacts = session.exec(contacts_of(elder.id)).all()
    known = own_contact(
        (KnownContact(c.id, c.name, c.relation, c.role) for c in contacts),
        name=who,
        relation=relation,
    )
    return next((c for c in contacts if known and c.id == known.contact_id), None)


def _answer_notices(
    session: Session, alert: Alert, contact: ElderContact, given: FamilyAnswer, now: datetime
) -> list[str]:
    """The family member's answer is the answer to the messages they were sent
    about this alert: "I am going" acknowledges them (a cascade's question too,
    which ends it), "I cannot come" declines them (the cascade asks the next).
    The steps of the messages answered."""
    notices = session.exec(
        select(Notification).where(
            Notification.alert_id == alert.id,
            Notification.contact_id == contact.id,
            col(Notification.status).in_(AWAITING),
        )
    ).all()
    for notice in notices:
        notice.status = "acknowledged" if given is FamilyAnswer.GOING else "declined"
        notice.updated_at = now
        session.add(notice)
    return [n.step for n in notices]


def answer(
    db: Database,
    user_id: uuid.UUID,
    username: str,
    who: str,
    alert_id: uuid.UUID,
    given: FamilyAnswer,
    *,
    position: GeoPoint | None,
    now: datetime,
) -> dict[str, Any]:
    """Record a family member's answer on the alert's timeline (409 once it is closed);
    return the alert as the family page shows it."""
    with db.session() as session:
        alert, elder, link = _linked_alert(session, user_id, alert_id)
        if not may_answer(alert.state):
            raise Conflict(f"the alert is {alert.state.value}: nobody is needed any more")
        order = session.exec(
            select(Order, Caregiver)
            .join(Caregiver, col(Caregiver.id) == Order.caregiver_id)
            .where(Order.alert_id == alert.id, col(Order.state).in_(ACTIVE_ORDER_STATES))
        ).first()
        contact = _contact_of(session, elder, who, link.relation)
        answered = _answer_notices(session, alert, contact, given, now) if contact else []
        lives_at = (
            GeoPoint(contact.lat, contact.lon)
            if contact and contact.lat is not None and contact.lon is not None
            else None
        )
        detail = answer_detail(
            given,
            who=who,
            relation=link.relation,
            home=GeoPoint(elder.lat, elder.lon),
            position=position,
            caregiver=order[1].name if order else None,
            caregiver_distance_m=order[0].distance_m if order else None,
            lives_at=lives_at,
        )
        if answered:  # the messages the answer is to: the cascade's question among them
            detail["answers"] = sorted(set(answered))
        record_note(
            session,
            alert,
            action=AlertAction.FAMILY_ANSWER.value,
            actor=Actor.family(username),
            at=now,
            detail=detail,
        )
        session.flush()
        return _told(session, alert, elder)
