"""Caregivers' credit standing as applied for a month: the bonus the matcher gives
and the hold from automatic dispatch, until a supervisor clears it (audited in
``registry_change``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from dispatch.domain.credit import CreditScore
from dispatch.errors import Conflict, NotFound
from dispatch.store.tables import CreditStanding, RegistryChange

# The registry audit's actions (registry_change.action, beside created, updated...).
HOLD = "credit_hold"
HOLD_CLEARED = "credit_hold_cleared"


def apply_month(
    session: Session,
    month: str,
    scores: Iterable[tuple[uuid.UUID, CreditScore]],
    actor: str,
    now: datetime,
) -> list[CreditStanding]:
    """Record each caregiver's standing for ``month`` (again: replaced, but a hold a
    supervisor cleared stays cleared). A low score holds the caregiver."""
    rows = []
    for caregiver_id, s in scores:
        row = session.get(CreditStanding, (caregiver_id, month))
        held = s.standing == "low"
        if row is None:
            row = CreditStanding(caregiver_id=caregiver_id, month=month)
        newly_held = held and not row.held
        row.score, row.standing, row.bonus_s, row.held = s.score, s.standing, s.bonus_s, held
        row.applied_by, row.applied_at = actor, now
        session.add(row)
        if newly_held:
            session.add(
                RegistryChange(
                    entity="caregiver", entity_id=str(caregiver_id), action=HOLD,
                    actor=actor, at=now, fields=["credit_standing"],
                    after={"month": month, "score": s.score},
                )
            )  # fmt: skip
        rows.append(row)
    return rows


def clear_hold(
    session: Session, caregiver_id: uuid.UUID, actor: str, note: str, now: datetime
) -> CreditStanding:
    """A supervisor lets a held caregiver back into automatic dispatch."""
    row: CreditStanding | None = session.execute(
        sa_select(CreditStanding)
        .where(col(CreditStanding.caregiver_id) == caregiver_id, col(CreditStanding.held))
        .order_by(col(CreditStanding.month).desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("credit hold of caregiver", caregiver_id)
    if row.cleared_at is not None:
        raise Conflict(f"the hold of {row.month} was cleared by {row.cleared_by}")
    row.cleared_by, row.cleared_at, row.clear_note = actor, now, note
    session.add(row)
    session.add(
        RegistryChange(
            entity="caregiver", entity_id=str(caregiver_id), action=HOLD_CLEARED,
            actor=actor, at=now, fields=["credit_standing"],
            before={"month": row.month, "score": row.score}, after={"note": note},
        )
    )  # fmt: skip
    return row


def standings(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CreditStanding]:
    """Each caregiver's latest applied month, for the dispatcher."""
    latest: dict[uuid.UUID, CreditStanding] = {}
    for row in session.execute(
        sa_select(CreditStanding)
        .where(col(CreditStanding.caregiver_id).in_(list(ids)))
        .order_by(col(CreditStanding.month))
    ).scalars():
        latest[row.caregiver_id] = row
    return latest
