"""Elders' records: create, read (logged), change (audited), deactivate.

Scoping is the one rule of dispatch/domain: an operator outside the elder's area
gets "not found", never part of the record; a caregiver reads elders through
their orders (dispatch/api/routes/me.py), not here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from dispatch.domain.access import Principal, Role
from dispatch.domain.areas import Place
from dispatch.domain.elders import DeactivationReason
from dispatch.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.registry.areas import check_place
from dispatch.registry.changes import record_change
from dispatch.store.db import Database
from dispatch.store.reads import contacts_of
from dispatch.store.tables import Device, Elder, ElderContact, Notification, RecordAccess

# What a change may not touch directly (the record keeps them itself).
_KEPT = frozenset({"id", "deactivated_at", "emergency_contact"})


@dataclass(frozen=True, slots=True)
class ElderRecord:
    elder: Elder
    contacts: list[ElderContact]
    devices: list[Device]


def place_of(elder: Elder) -> Place:
    return Place.known(elder.district, elder.street, elder.community)


def scoped(session: Session, principal: Principal, elder_id: uuid.UUID) -> Elder:
    """The elder, if ``principal`` may see them; NotFound otherwise (also when they
    exist outside the principal's areas: their existence is not told either)."""
    if principal.role is Role.CAREGIVER:
        raise Forbidden("a caregiver reads elders through their orders")
    elder = session.get(Elder, elder_id)
    # The data officer answers PIPL requests about any elder of the bureau.
    officer = principal.role is Role.DATA_OFFICER
    if elder is None or not (officer or principal.may_see_place(place_of(elder))):
        raise NotFound("elder", str(elder_id))
    return elder


def _contacts(session: Session, elder_id: uuid.UUID) -> list[ElderContact]:
    return list(session.exec(contacts_of(elder_id)).all())


def _record(session: Session, elder: Elder) -> ElderRecord:
    devices = session.exec(select(Device).where(Device.elder_id == elder.id)).all()
    return ElderRecord(elder, _contacts(session, elder.id), list(devices))


def read_record(
    db: Database, principal: Principal, elder_id: uuid.UUID, *, via: str, now: datetime
) -> ElderRecord:
    """The full record; the read is logged (who, when, through what) in the same
    transaction, so no read goes unlogged."""
    with db.session() as session:
        elder = scoped(session, principal, elder_id)
        session.add(
            RecordAccess(
                elder_id=elder.id, actor=principal.username, role=principal.role, at=now, via=via
            )
        )
        return _record(session, elder)


def access_log(db: Database, elder_id: uuid.UUID) -> list[RecordAccess]:
    with db.read() as session:
        if session.get(Elder, elder_id) is None:
            raise NotFound("elder", str(elder_id))
        query = (
            select(RecordAccess)
            .where(RecordAccess.elder_id == elder_id)
            .order_by(col(RecordAccess.id))
        )
        return list(session.exec(query).all())


def _contact_line(contacts: list[dict[str, Any]]) -> str:
    """The first contact as the alert card's one line: "name (relation) phone"."""
    if not contacts:
        return ""
    first = contacts[0]
    relation = f" ({first['relation']})" if first.get("relation") else ""
    phones = first.get("phones") or []
    return f"{first['name']}{relation} {phones[0] if phones else ''}".strip()


def _contacts_snapshot(contacts: list[ElderContact]) -> list[dict[str, Any]]:
    return [
        c.model_dump(exclude={"id", "elder_id", "position", "removed_at"})
        for c in sorted(contacts, key=lambda c: c.position)
    ]


def _replace_contacts(
    session: Session, elder: Elder, contacts: list[dict[str, Any]], now: datetime
) -> list[ElderContact]:
    """The elder's list becomes ``contacts``. A contact kept by name keeps their row
    (what they were sent, and the cascade's questions, still point at it); one taken
    off who was ever sent something is marked removed, not deleted."""
    unused = {c.id: c for c in _contacts(session, elder.id)}
    rows = []
    for i, contact in enumerate(contacts):
        same = next((c for c in unused.values() if c.name == contact.get("name")), None)
        if same is None:
            rows.append(ElderContact(elder_id=elder.id, position=i, **contact))
            continue
        del unused[same.id]
        for key, value in (
            ElderContact(elder_id=elder.id, position=i, **contact)
            .model_dump(exclude={"id", "removed_at"})
            .items()
        ):
            setattr(same, key, value)
        rows.append(same)
    sent = set(
        session.exec(
            select(Notification.contact_id).where(col(Notification.contact_id).in_(list(unused)))
        ).all()
    )
    for gone in unused.values():
        if gone.id in sent:
            gone.removed_at = now
            session.add(gone)
        else:
            session.delete(gone)
    session.flush()
    session.add_all(rows)
    elder.emergency_contact = _contact_line(contacts)
    return rows


def _check(session: Session, elder: Elder) -> None:
    try:
        place = place_of(elder)
    except ValueError as exc:
        raise InvalidInput([str(exc)]) from exc
    check_place(session, place)
    if elder.external_id:
        same = session.exec(
            select(Elder.id).where(Elder.external_id == elder.external_id, Elder.id != elder.id)
        ).first()
        if same is not None:
            raise Conflict(f"external id {elder.external_id!r} is another elder's")
    if (
        elder.heart_rate_min is not None
        and elder.heart_rate_max is not None
        and elder.heart_rate_min >= elder.heart_rate_max
    ):
        raise InvalidInput(["heart_rate_min must be below heart_rate_max"])


def create_elder(
    db: Database,
    values: dict[str, Any],
    contacts: list[dict[str, Any]],
    *,
    actor: str,
    now: datetime,
) -> ElderRecord:
    """Add an elder with their contacts (audited); committed when it returns."""
    with db.session() as session:
        return add_elder(session, values, contacts, actor=actor, now=now)


def add_elder(
    session: Session,
    values: dict[str, Any],
    contacts: list[dict[str, Any]],
    *,
    actor: str,
    now: datetime,
) -> ElderRecord:
    """:func:`create_elder` in the caller's transaction (a bulk import's)."""
    elder = Elder(**values)
    _check(session, elder)
    session.add(elder)
    session.flush()
    rows = _replace_contacts(session, elder, contacts, now)
    after = {**elder.model_dump(), "contacts": _contacts_snapshot(rows)}
    record_change(session, "elder", str(elder.id), "created", actor, {}, after, now)
    return ElderRecord(elder, rows, [])


def change_elder(
    db: Database,
    principal: Principal,
    elder_id: uuid.UUID,
    values: dict[str, Any],
    contacts: list[dict[str, Any]] | None,
    *,
    now: datetime,
) -> ElderRecord:
    """Change an elder's record as ``principal`` (committed when it returns)."""
    with db.session() as session:
        elder = scoped(session, principal, elder_id)
        return update_elder(session, elder, values, contacts, actor=principal.username, now=now)


def update_elder(
    session: Session,
    elder: Elder,
    values: dict[str, Any],
    contacts: list[dict[str, Any]] | None,
    *,
    actor: str,
    now: datetime,
) -> ElderRecord:
    """Apply ``values`` (and replace the contacts when given), in the caller's
    transaction; every changed field is logged with its value before and after.

    ``active: false`` needs a ``deactivation_reason``: the elder keeps every alert
    and visit; active again clears the reason.
    """
    refused = sorted(set(values) & _KEPT)
    if refused:
        raise InvalidInput([f"{k} cannot be set directly" for k in refused])
    before = {**elder.model_dump(), "contacts": _contacts_snapshot(_contacts(session, elder.id))}
    for key, value in values.items():
        setattr(elder, key, value)
    action = "updated"
    if values.get("active") is False and before["active"]:
        if not elder.deactivation_reason:
            reasons = ", ".join(r.value for r in DeactivationReason)
            raise InvalidInput([f"a deactivation needs a deactivation_reason ({reasons})"])
        elder.deactivated_at = now
        action = "deactivated"
    elif values.get("active") is True and not before["active"]:
        elder.deactivated_at = None
        elder.deactivation_reason = None
        action = "reactivated"
    _check(session, elder)
    rows = (
        _replace_contacts(session, elder, contacts, now)
        if contacts is not None
        else _contacts(session, elder.id)
    )
    session.add(elder)
    after = {**elder.model_dump(), "contacts": _contacts_snapshot(rows)}
    record_change(session, "elder", str(elder.id), action, actor, before, after, now)
    session.flush()
    return _record(session, elder)
