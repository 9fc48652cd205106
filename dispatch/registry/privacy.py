"""PIPL requests about an elder: export their data, anonymise it; and re-sealing
the encrypted fields under the newest key (docs/privacy.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col, delete, select

from dispatch.domain.access import Principal
from dispatch.registry.changes import _plain, changes_of
from dispatch.registry.elders import _contacts, scoped
from dispatch.store.db import Database
from dispatch.store.tables import (
    Alert,
    Assessment,
    Device,
    Elder,
    ElderContact,
    FamilyInvitation,
    FamilyLink,
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
        session.exec(delete(ElderContact).where(col(ElderContact.elder_id) == elder.id))
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
