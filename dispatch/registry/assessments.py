"""Capability assessments: the scale from config, the history, the grade that sets
an elder's care level."""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import col, select

from dispatch.domain.access import Principal
from dispatch.domain.assessment import Grade, Indicator, Item, Scale, score
from dispatch.errors import InvalidInput
from dispatch.registry.changes import record_change
from dispatch.registry.elders import scoped
from dispatch.store.db import Database
from dispatch.store.tables import Assessment


def parse_scale(raw: dict[str, Any]) -> Scale:
    return Scale(
        standard=str(raw["standard"]),
        verified=bool(raw["verified"]),
        source=str(raw.get("source", "")),
        total_max=int(raw["total_max"]),
        reassess_after_months=int(raw["reassess_after_months"]),
        indicators=tuple(
            Indicator(
                code,
                spec["label_zh"],
                spec["label_en"],
                tuple(
                    Item(item, s["label_zh"], s["label_en"], int(s["max"]))
                    for item, s in spec["items"].items()
                ),
            )
            for code, spec in raw["indicators"].items()
        ),
        grades=tuple(
            Grade(
                g["code"], g["label_zh"], g["label_en"], int(g["min_total"]), int(g["care_level"])
            )
            for g in raw["grades"]
        ),
        raise_one_grade_for=frozenset(raw.get("raise_one_grade_for", ())),
        lost_for=frozenset(raw.get("lost_for", ())),
    )


@lru_cache(maxsize=4)
def load_scale(path: Path) -> Scale:
    """The scale in ``path`` (read once per process; a change needs a restart)."""
    return parse_scale(yaml.safe_load(path.read_text(encoding="utf-8")))


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has fewer)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class NewAssessment:
    assessed_on: date
    assessor: str
    scores: dict[str, int]
    findings: frozenset[str] = frozenset()
    notes: str = ""


def record_assessment(
    db: Database,
    scale: Scale,
    principal: Principal,
    elder_id: uuid.UUID,
    new: NewAssessment,
    *,
    now: datetime,
) -> Assessment:
    """Score and keep an assessment; when it is the elder's latest, its grade sets
    their care level (the change is on the elder's change log)."""
    try:
        result = score(scale, new.scores, new.findings)
    except ValueError as exc:
        raise InvalidInput(str(exc).split("; ")) from exc
    with db.session() as session:
        elder = scoped(session, principal, elder_id)
        row = Assessment(
            elder_id=elder.id,
            standard=scale.standard,
            assessed_on=new.assessed_on,
            assessor=new.assessor,
            scores=dict(new.scores),
            findings=sorted(new.findings),
            by_indicator=result.by_indicator,
            total=result.total,
            grade=result.grade.code,
            care_level=result.grade.care_level,
            next_due=add_months(new.assessed_on, scale.reassess_after_months),
            notes=new.notes,
            recorded_by=principal.username,
            recorded_at=now,
        )
        session.add(row)
        later = session.exec(
            select(Assessment.id).where(
                Assessment.elder_id == elder.id, col(Assessment.assessed_on) > new.assessed_on
            )
        ).first()
        if later is None and elder.care_level != row.care_level:
            before = {"care_level": elder.care_level}
            elder.care_level = row.care_level
            session.add(elder)
            after = {"care_level": elder.care_level}
            record_change(
                session, "elder", str(elder.id), "assessed", principal.username, before, after, now
            )
        return row


def history(db: Database, principal: Principal, elder_id: uuid.UUID) -> list[Assessment]:
    """The elder's assessments, newest first."""
    with db.read() as session:
        scoped(session, principal, elder_id)
        query = (
            select(Assessment)
            .where(Assessment.elder_id == elder_id)
            .order_by(col(Assessment.assessed_on).desc(), col(Assessment.recorded_at).desc())
        )
        return list(session.exec(query).all())
