"""The registry's change log: who changed which fields, before and after."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from enum import Enum
from typing import Any

from sqlmodel import Session, col, select

from dispatch.domain.elders import SENSITIVE_FIELDS
from dispatch.store.tables import RegistryChange

CHANGED = "(changed)"  # what the log shows of a sensitive field


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def record_change(
    session: Session,
    entity: str,
    entity_id: str,
    action: str,
    actor: str,
    before: dict[str, Any],
    after: dict[str, Any],
    now: datetime,
) -> RegistryChange | None:
    """Log the fields that differ (None when nothing did). Sensitive fields are
    logged as changed, without their values."""
    fields = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if not fields:
        return None

    def shown(values: dict[str, Any]) -> dict[str, Any]:
        return {
            k: (CHANGED if k in SENSITIVE_FIELDS and values.get(k) else _plain(values.get(k)))
            for k in fields
            if k in values
        }

    row = RegistryChange(
        entity=entity,
        entity_id=entity_id,
        action=action,
        actor=actor,
        at=now,
        fields=fields,
        before=shown(before),
        after=shown(after),
    )
    session.add(row)
    return row


def changes_of(session: Session, entity: str, entity_id: str) -> list[RegistryChange]:
    query = (
        select(RegistryChange)
        .where(RegistryChange.entity == entity, RegistryChange.entity_id == entity_id)
        .order_by(col(RegistryChange.id))
    )
    return list(session.exec(query).all())
