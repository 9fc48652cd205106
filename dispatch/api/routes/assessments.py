"""Capability assessments: the scale (for the form), a new assessment, the history."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import AdminDep, BoardDep, DatabaseDep, SettingsDep
from dispatch.registry import assessments
from dispatch.store.tables import Assessment

router = APIRouter(prefix="/api/v1", tags=["assessments"])


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assessed_on: date
    assessor: str = Field(min_length=1, max_length=100)
    scores: dict[str, int] = Field(description="every item of the scale: its code -> score")
    findings: list[str] = Field(default_factory=list, max_length=10)
    notes: str = Field(default="", max_length=2000)


class AssessmentHistory(BaseModel):
    care_level: int | None  # the latest assessment's
    grade: str | None
    next_due: date | None
    history: list[Assessment]  # newest first


@router.get("/assessment-scale")
def assessment_scale(settings: SettingsDep, _reader: BoardDep) -> dict[str, Any]:
    """The scale the form asks: indicators, items with their maximum, grades, and
    whether it has been checked against the standard (``verified``)."""
    scale = assessments.load_scale(settings.assessment_file)
    return asdict(scale)


@router.post(
    "/elders/{elder_id}/assessments",
    response_model=Assessment,
    status_code=status.HTTP_201_CREATED,
)
async def add_assessment(
    settings: SettingsDep,
    db: DatabaseDep,
    admin: AdminDep,
    elder_id: uuid.UUID,
    body: AssessmentCreate,
) -> Assessment:
    """Score and keep an assessment (422 naming every missing or out-of-range item);
    the latest assessment's grade sets the elder's care level."""
    scale = assessments.load_scale(settings.assessment_file)
    new = assessments.NewAssessment(
        body.assessed_on, body.assessor, body.scores, frozenset(body.findings), body.notes
    )
    return await db.run(
        assessments.record_assessment,
        db,
        scale,
        admin,
        elder_id,
        new,
        now=datetime.now(UTC),
    )


@router.get("/elders/{elder_id}/assessments", response_model=AssessmentHistory)
async def assessment_history(
    db: DatabaseDep, reader: BoardDep, elder_id: uuid.UUID
) -> AssessmentHistory:
    rows = await db.run(assessments.history, db, reader, elder_id)
    latest = rows[0] if rows else None
    return AssessmentHistory(
        care_level=latest.care_level if latest else None,
        grade=latest.grade if latest else None,
        next_due=latest.next_due if latest else None,
        history=rows,
    )
