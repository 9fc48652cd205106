"""Handing an alert to the public emergency service (120 ambulance, 110 police,
119 fire): the sheet the operator reads out, then the outcome and the arrival.
An alert handed over stays open until its outcome is recorded."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlmodel import Session, col, select

from dispatch.domain.actor import Actor
from dispatch.domain.lifecycle import OPEN_ALERT_STATES
from dispatch.domain.live_events import AlertAction
from dispatch.errors import Conflict, NotFound
from dispatch.store.audit import record_note
from dispatch.store.db import Database
from dispatch.store.reads import contacts_of
from dispatch.store.tables import Alert, Device, Elder, Handover


class Service(StrEnum):
    AMBULANCE = "120"
    POLICE = "110"
    FIRE = "119"


class Outcome(StrEnum):
    """What the emergency service said it would do."""

    DISPATCHED = "dispatched"  # an ambulance (police, fire engine) is coming
    ADVICE_ONLY = "advice_only"  # advice on the phone, no one sent
    REFUSED = "refused"
    TRANSPORTED = "transported"  # taken to hospital (recorded after the arrival)


def sheet(session: Session, alert: Alert) -> dict[str, Any]:
    """What the emergency service asks for, from the elder's record and the device."""
    elder = session.get(Elder, alert.elder_id) if alert.elder_id else None
    device = session.get(Device, alert.device_id) if alert.device_id else None
    contacts = session.exec(contacts_of(elder.id)).all() if elder else []
    position = (
        {"lat": device.lat, "lon": device.lon}
        if device and device.lat is not None and device.lon is not None
        else {"lat": alert.lat, "lon": alert.lon}
    )
    return {
        "alert_type": alert.alert_type,
        "raised_at": alert.raised_at.isoformat(),
        "elder": None
        if elder is None
        else {
            "name": elder.name,
            "sex": elder.sex,
            "birth_date": elder.birth_date.isoformat() if elder.birth_date else None,
            "phone": elder.phone,
            "address": elder.address,
            "building": elder.building,
            "unit": elder.unit,
            "room": elder.room,
            "door_access": elder.access_notes,
            "health_notes": elder.notes,
            "medicines": elder.medicines,
            "allergies": elder.allergies,
            "family_doctor": elder.family_doctor,
            "living_situation": elder.living_situation,
        },
        "device_position": position,
        "contacts": [
            {
                "name": c.name,
                "relation": c.relation,
                "role": c.role,
                "phones": list(c.phones),
                "key_holder": c.key_holder,
            }
            for c in contacts
        ],
    }


def _alert(session: Session, alert_id: UUID) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFound("alert", str(alert_id))
    return alert


def _latest(session: Session, alert_id: UUID) -> Handover:
    latest = session.exec(
        select(Handover)
        .where(Handover.alert_id == alert_id)
        .order_by(col(Handover.handed_at).desc())
    ).first()
    if latest is None:
        raise Conflict(f"alert {alert_id} was not handed over")
    return latest


def awaiting_outcome(session: Session, alert_id: UUID) -> bool:
    """Whether a hand-over of this alert still waits for its outcome (it may not close)."""
    waiting = session.exec(
        select(Handover.id).where(Handover.alert_id == alert_id, col(Handover.outcome).is_(None))
    ).first()
    return waiting is not None


def hand_over(
    db: Database, alert_id: UUID, operator: str, service: Service, *, at: datetime
) -> Handover:
    """Record that the operator is handing the alert over, with the sheet to read out."""
    with db.session() as session:
        alert = _alert(session, alert_id)
        if alert.state not in OPEN_ALERT_STATES:
            raise Conflict(f"alert {alert_id} is already {alert.state}")
        handover = Handover(
            alert_id=alert.id,
            service=service.value,
            handed_by=operator,
            handed_at=at,
        )
        session.add(handover)
        record_note(
            session,
            alert,
            action=AlertAction.HANDED_OVER,
            actor=Actor.operator(operator),
            at=at,
            detail={"service": service.value},
        )
        session.flush()
        return handover


def record_outcome(
    db: Database, alert_id: UUID, operator: str, outcome: Outcome, note: str, *, at: datetime
) -> Handover:
    with db.session() as session:
        alert = _alert(session, alert_id)
        handover = _latest(session, alert_id)
        handover.outcome, handover.outcome_note, handover.outcome_at = outcome.value, note, at
        session.add(handover)
        record_note(
            session,
            alert,
            action=AlertAction.HANDOVER_OUTCOME,
            actor=Actor.operator(operator),
            at=at,
            detail={"service": handover.service, "outcome": outcome.value, "note": note},
        )
        session.flush()
        return handover


def record_arrival(db: Database, alert_id: UUID, operator: str, *, at: datetime) -> Handover:
    with db.session() as session:
        alert = _alert(session, alert_id)
        handover = _latest(session, alert_id)
        if handover.arrived_at is not None:
            raise Conflict(f"the {handover.service} arrival is already recorded")
        handover.arrived_at = at
        session.add(handover)
        record_note(
            session,
            alert,
            action=AlertAction.AMBULANCE_ARRIVED,
            actor=Actor.operator(operator),
            at=at,
            detail={"service": handover.service},
        )
        session.flush()
        return handover


def view(db: Database, alert_id: UUID) -> dict[str, Any]:
    """The alert's hand-overs, oldest first, and the sheet to read out now."""
    with db.session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise NotFound("alert", str(alert_id))
        found = session.exec(
            select(Handover).where(Handover.alert_id == alert_id).order_by(col(Handover.handed_at))
        ).all()
        return {
            "handovers": [h.model_dump(mode="json") for h in found],
            "awaiting_outcome": any(h.outcome is None for h in found),
            "sheet": sheet(session, alert),
        }
