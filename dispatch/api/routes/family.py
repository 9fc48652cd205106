"""The family page's resources (docs/contacts.md): a family account's linked elders,
their alerts as a story, its answers and invitation codes; and the administrators'
side of the links."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.api.deps import (
    AdminDep,
    BoardDep,
    CatalogDep,
    DatabaseDep,
    FamilyDep,
    PublishDep,
)
from dispatch.domain.catalog import Catalog
from dispatch.domain.family import FamilyAnswer
from dispatch.domain.model import GeoPoint
from dispatch.emergency import family as family_alerts
from dispatch.registry import family

router = APIRouter(prefix="/api/v1", tags=["family"])
Relation = Field(default="", max_length=40)


class AnswerIn(BaseModel):
    """An answer, with the phone's position when the family member let it be read
    (then the operator sees how far they are beside the caregiver)."""

    model_config = ConfigDict(extra="forbid")
    answer: FamilyAnswer
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _both_or_neither(self) -> AnswerIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self

    @property
    def position(self) -> GeoPoint | None:
        return None if self.lat is None or self.lon is None else GeoPoint(self.lat, self.lon)


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=32)


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64)
    relation: str = Relation


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relation: str = Relation


class InvitationIssued(BaseModel):
    code: str  # shown in this answer only
    elder_id: uuid.UUID
    relation: str
    expires_at: datetime


def _labelled(told: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """A closing step's code with its labels in both languages (the family page
    cannot read the board's list of codes)."""
    for line in told["story"]:
        known = catalog.closure_codes.get(line["code"] or "")
        line["code_label"] = {"en": known.label_en, "zh-CN": known.label_zh} if known else None
    return told


# ---- the family member's own -------------------------------------------------------


@router.get("/family/elders")
async def my_elders(db: DatabaseDep, user: FamilyDep) -> list[family.Linked]:
    return await db.run(family.linked_elders, db, user.id)


@router.get("/family/alerts")
async def my_alerts(
    db: DatabaseDep, user: FamilyDep, catalog: CatalogDep, limit: int = Query(20, ge=1, le=100)
) -> list[dict[str, Any]]:
    """The linked elders' alerts of the last week (open ones first in time), newest
    first, each with its story: the steps a family is told of, in order."""
    found = await db.run(
        family_alerts.family_alerts, db, user.id, now=datetime.now(UTC), limit=limit
    )
    return [_labelled(told, catalog) for told in found]


@router.post("/family/alerts/{alert_id}/answer")
async def answer_alert(
    db: DatabaseDep,
    user: FamilyDep,
    publish: PublishDep,
    catalog: CatalogDep,
    alert_id: uuid.UUID,
    body: AnswerIn,
) -> dict[str, Any]:
    """ "I am going" or "I cannot come": on the alert's timeline for the operator
    (404 for an alert not of a linked elder, 409 once it is closed)."""
    told = await db.run(
        family_alerts.answer,
        db,
        user.id,
        user.username,
        user.display_name or user.username,
        alert_id,
        body.answer,
        position=body.position,
        now=datetime.now(UTC),
    )
    await publish()
    return _labelled(told, catalog)


@router.post("/family/link", status_code=status.HTTP_201_CREATED)
async def link_by_code(db: DatabaseDep, user: FamilyDep, body: CodeIn) -> family.Linked:
    """Enter an invitation code: the account is linked to its elder."""
    return await db.run(family.redeem, db, user.id, body.code, now=datetime.now(UTC))


# ---- the administrators' side ----------------------------------------------------------


@router.get("/elders/{elder_id}/family")
async def elder_family(
    db: DatabaseDep, _reader: BoardDep, elder_id: uuid.UUID
) -> list[family.Linked]:
    return await db.run(family.links_of_elder, db, elder_id)


@router.post("/elders/{elder_id}/family", status_code=status.HTTP_201_CREATED)
async def link_family(
    db: DatabaseDep, admin: AdminDep, elder_id: uuid.UUID, body: LinkIn
) -> family.Linked:
    return await db.run(
        family.link,
        db,
        elder_id,
        body.username,
        body.relation,
        by=admin.username,
        now=datetime.now(UTC),
    )


@router.delete("/elders/{elder_id}/family/{username}", status_code=status.HTTP_204_NO_CONTENT)
async def unlink_family(
    db: DatabaseDep, _admin: AdminDep, elder_id: uuid.UUID, username: str
) -> None:
    await db.run(family.unlink, db, elder_id, username)


@router.post(
    "/elders/{elder_id}/family/invitations",
    response_model=InvitationIssued,
    status_code=status.HTTP_201_CREATED,
)
async def invite_family(
    db: DatabaseDep, admin: AdminDep, elder_id: uuid.UUID, body: InvitationIn
) -> InvitationIssued:
    """A one-time code (valid a week) to give a family member; shown only here."""
    code, expires_at = await db.run(
        family.invite, db, elder_id, body.relation, by=admin.username, now=datetime.now(UTC)
    )
    return InvitationIssued(
        code=code, elder_id=elder_id, relation=body.relation, expires_at=expires_at
    )
