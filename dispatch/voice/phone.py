"""Calls from the phone network: who is calling, and the alert their call raises or joins.

The centre's phone system (SIP) rings the operator's browser; the browser asks
here who the number belongs to. A number on an elder's record (their own phone,
or the family's in their emergency contact) pops that elder's card: the call
joins the elder's open alert, or raises a "phone_call" alert for the operator to
work (never dispatched blindly: the operator is speaking with the caller).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from dispatch.domain.actor import Actor
from dispatch.domain.catalog import Catalog
from dispatch.domain.lifecycle import OPEN_ALERT_STATES
from dispatch.store.audit import raise_alert, record_note
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Elder

PHONE_CALL = "phone_call"
_DIGITS = re.compile(r"\d[\d\s()-]{5,}\d")
MIN_DIGITS = 7  # shorter numbers (120, 110, an extension) name no one


def normalise_number(text: str) -> str:
    """Digits only, without China's country code: "+86 138-0000-0001" → "13800000001"."""
    digits = re.sub(r"\D", "", text)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 10:
            return digits[len(prefix) :]
    return digits


def numbers_in(text: str) -> set[str]:
    """Every phone number written in ``text`` ("女儿 李娜 139 0000 0002"), normalised."""
    found = {normalise_number(m.group()) for m in _DIGITS.finditer(text)}
    return {n for n in found if len(n) >= MIN_DIGITS}


@dataclass(frozen=True, slots=True)
class Caller:
    elder_id: uuid.UUID
    elder_name: str
    alert_id: uuid.UUID
    joined: bool  # True: an open alert of the elder's; False: a new phone_call alert
    family: bool  # the number is the emergency contact's, not the elder's own


def receive_call(
    db: Database, catalog: Catalog, number: str, operator: str, *, at: datetime
) -> Caller | None:
    """The elder a call from ``number`` is about, with the alert it now belongs to;
    None for a number on no elder's record (the call goes on; nothing pops)."""
    wanted = normalise_number(number)
    if len(wanted) < MIN_DIGITS:
        return None
    with db.session() as session:
        # Narrow by the last four digits in SQL (numbers are stored as typed, spaces
        # and all), then compare whole normalised numbers here.
        tail = f"%{wanted[-4:]}%"
        candidates = session.exec(
            select(Elder).where(
                col(Elder.phone).like(tail) | col(Elder.emergency_contact).like(tail)
            )
        ).all()
        elder, family = _elder_with_number(list(candidates), wanted)
        if elder is None:
            return None
        open_alert = session.exec(
            select(Alert)
            .where(Alert.elder_id == elder.id, col(Alert.state).in_(OPEN_ALERT_STATES))
            .order_by(col(Alert.raised_at).desc())
        ).first()
        actor = Actor.phone(wanted)
        detail = {"number": wanted, "family": family, "operator": operator}
        if open_alert is not None:
            record_note(session, open_alert, action="phone_call", actor=actor, at=at, detail=detail)
            alert, joined = open_alert, True
        else:
            alert = raise_alert(
                session,
                catalog.alert_types[PHONE_CALL],
                device_id=None,
                elder=elder,
                lat=elder.lat,
                lon=elder.lon,
                at=at,
                device_ts=at,
                actor=actor,
            )
            joined = False
        return Caller(elder.id, elder.name, alert.id, joined, family)


def _elder_with_number(elders: list[Elder], number: str) -> tuple[Elder | None, bool]:
    for elder in elders:
        if elder.phone and normalise_number(elder.phone) == number:
            return elder, False
    for elder in elders:
        if number in numbers_in(elder.emergency_contact):
            return elder, True
    return None, False
