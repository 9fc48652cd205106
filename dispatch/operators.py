"""What call-centre operators do with alerts (each change audited with who and when)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlmodel import col, select

from dispatch.domain.lifecycle import OPEN_ALERT_STATES
from dispatch.errors import NotFound
from dispatch.store.audit import record_note
from dispatch.store.db import Database
from dispatch.store.tables import Alert


def acknowledge(
    db: Database, alert_ids: Sequence[UUID], operator: str, *, at: datetime
) -> list[Alert]:
    """An operator takes ownership of open alerts (one, or a flood from one cause).

    Alerts already acknowledged keep their first owner; closed ones are skipped.
    Raises NotFound, changing nothing, if any id is unknown.
    """
    with db.session() as session:
        alerts = list(
            session.exec(select(Alert).where(col(Alert.id).in_(alert_ids)).with_for_update()).all()
        )
        missing = set(alert_ids) - {a.id for a in alerts}
        if missing:
            raise NotFound("alert", str(sorted(missing)[0]))
        taken = []
        for alert in alerts:
            if alert.state not in OPEN_ALERT_STATES or alert.acknowledged_at is not None:
                continue
            alert.acknowledged_at, alert.acknowledged_by = at, operator
            session.add(alert)
            record_note(
                session,
                alert,
                action="acknowledged",
                actor=f"operator:{operator}",
                at=at,
                detail={"bulk": len(alert_ids) > 1},
            )
            taken.append(alert)
        return taken
