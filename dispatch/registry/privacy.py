"""PIPL requests about an elder: export their data, anonymise it; and re-sealing
the encrypted fields under the newest key (docs/privacy.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, delete, select

from dispatch.domain.access import Principal
from dispatch.domain.live_events import elder_view, scrubbed
from dispatch.registry.changes import _plain, changes_of
from dispatch.registry.elders import _contacts, scoped
from dispatch.store.db import Database
from dispatch.store.tables import (
    Alert,
    Assessment,
    AuditRecord,
    Device,
    Elder,
    ElderContact,
    FamilyInvitation,
    FamilyLink,
    Notification,
    RecordAccess,
    RegistryChange,
    Visit,
)

SEALED_FIELDS = ("id_number", "notes", "access_notes")
REMOVED = "(removed)"
ANONYMISED = "anonymised"  # the change log's action (not an alert's audited action)
# What anonymisation clears: everything that names, reaches or describes the person.
PERSONAL: dict[str, Any] = {
    "name": None,
    "phone": "",
    "phones": [],
    "id_number": "",
    "birth_date": None,
    "address": "",
    "building": "",
    "unit": "",
    "room": "",
    "notes": "",
    "medicines": "",
    "allergies": "",
    "family_doctor": "",
    "emergency_contact": "",
    "access_notes": "",
    "external_id": None,
}


def reseal_all(db: Database, *, batch: int = 500) -> int:
    """Write every elder's sealed fields again, so they are sealed with the newest
    key (plain values get sealed too). Returns how many records were written."""
    done = 0
    last: uuid.UUID | None = None
    while True:
        with db.session() as session:
            query = select(Elder).order_by(col(Elder.id)).limit(batch)
            if last is not None:
                query = query.where(col(Elder.id) > last)
            rows = list(session.exec(query).all())
            for elder in rows:
                for field in SEALED_FIELDS:
                    flag_modified(elder, field)
                session.add(elder)
        if not rows:
            return done
        done += len(rows)
        last = rows[-1].id


def export_elder(
    db: Database, principal: Principal, elder_id: uuid.UUID, *, now: datetime
) -> dict[str, Any]:
    """Everything CareBell holds about the elder, as JSON-ready data (the export is
    itself on the access log)."""
    with db.session() as session:
        elder = scoped(session, principal, elder_id)
        session.add(
            RecordAccess(
                elder_id=elder.id,
                actor=principal.username,
                role=principal.role,
                at=now,
                via="export",
            )
        )

        def rows(table: Any, where: Any) -> list[dict[str, Any]]:
            return [_plain(r.model_dump()) for r in session.exec(select(table).where(where))]

        return {
            "exported_at": now.isoformat(),
            "elder": _plain(elder.model_dump()),
            "contacts": [_plain(c.model_dump()) for c in _contacts(session, elder.id)],
            "devices": rows(Device, Device.elder_id == elder.id),
            "assessments": rows(Assessment, Assessment.elder_id == elder.id),
            "alerts": rows(Alert, Alert.elder_id == elder.id),
            "visits": rows(Visit, Visit.elder_id == elder.id),
            "changes": [
                _plain(c.model_dump()) for c in changes_of(session, "elder", str(elder.id))
            ],
            "access_log": rows(RecordAccess, RecordAccess.elder_id == elder.id),
        }


def anonymise_elder(
    db: Database, principal: Principal, elder_id: uuid.UUID, *, now: datetime
) -> Elder:
    """Remove what identifies the elder; keep their alerts, visits, assessments and
    the audit trail (the law keeps those), tied to a record that names nobody.

    The home position is rounded to about a kilometre (the district's statistics
    keep working); the change log keeps which fields changed, not their values.
    """
    with db.session() as session:
        elder = scoped(session, principal, elder_id)
        fields = [*sorted(PERSONAL), "contacts", "lat", "lon"]
        for key, value in PERSONAL.items():
            setattr(elder, key, value)
        elder.name = f"匿名 {str(elder.id)[:8]}"
        elder.lat, elder.lon = round(elder.lat, 2), round(elder.lon, 2)
        elder.active = False
        elder.deactivated_at = elder.deactivated_at or now
        elder.deactivation_reason = "anonymised"
        session.add(elder)
        _forget_contacts(session, elder.id)
        _scrub_alerts(session, elder)
        # Nobody is their family any more: no link or code may lead to the record.
        session.exec(delete(FamilyLink).where(col(FamilyLink.elder_id) == elder.id))
        session.exec(delete(FamilyInvitation).where(col(FamilyInvitation.elder_id) == elder.id))
        for change in changes_of(session, "elder", str(elder.id)):
            change.before = {k: REMOVED for k in change.before}
            change.after = {k: REMOVED for k in change.after}
            flag_modified(change, "before")
            flag_modified(change, "after")
            session.add(change)
        session.add(
            RegistryChange(
                entity="elder",
                entity_id=str(elder.id),
                action=ANONYMISED,
                actor=principal.username,
                at=now,
                fields=fields,
                before={},
                after={},
            )
        )
        return elder


def _forget_contacts(session: Session, elder_id: uuid.UUID) -> None:
    """Contacts go; one a notification was sent to stays as a nameless row (the
    notification, part of an alert's history, points to it) and the notification
    keeps its step, channel and outcome but no name or number."""
    contacts = list(session.exec(select(ElderContact).where(ElderContact.elder_id == elder_id)))
    told = set(
        session.exec(
            select(Notification.contact_id).where(
                col(Notification.contact_id).in_([c.id for c in contacts])
            )
        ).all()
    )
    for contact in contacts:
        if contact.id not in told:
            session.delete(contact)
            continue
        contact.name, contact.relation, contact.phones, contact.hours = REMOVED, "", [], ""
        contact.key_holder, contact.lat, contact.lon = False, None, None
        session.add(contact)
    for notice in session.exec(select(Notification).where(col(Notification.contact_id).in_(told))):
        notice.contact_name, notice.phone = REMOVED, ""
        session.add(notice)


def _scrub_alerts(session: Session, elder: Elder) -> None:
    """The elder's alerts stay, at the rounded position, and so does every audited
    step; what the steps' live messages carried of the person (the card an order
    showed, a contact's name, the exact home) is replaced by the anonymised card."""
    card = elder_view(elder)
    alerts = list(session.exec(select(Alert).where(Alert.elder_id == elder.id)))
    for alert in alerts:
        alert.lat, alert.lon = elder.lat, elder.lon
        session.add(alert)
    ids = [a.id for a in alerts]
    if not ids:
        return
    for record in session.exec(select(AuditRecord).where(col(AuditRecord.alert_id).in_(ids))):
        event = scrubbed(record.event, card) if record.event else record.event
        detail = dict(record.detail)
        if "contact" in detail:
            detail["contact"] = ""
        if event != record.event or detail != record.detail:
            record.event, record.detail = event, detail
            flag_modified(record, "event")
            flag_modified(record, "detail")
            session.add(record)
