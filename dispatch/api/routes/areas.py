"""The area tree: city → district → street → community (docs/administration.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import AdminDep, DatabaseDep, allow
from dispatch.domain.access import BOARD_ROLES, Principal
from dispatch.registry import areas
from dispatch.store.tables import Area

router = APIRouter(prefix="/api/v1/areas", tags=["areas"])


class AreaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=60)
    parent: str | None = Field(
        default=None, max_length=200, description="the parent's key; none for the city itself"
    )
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


@router.get("", response_model=list[Area])
async def list_areas(
    db: DatabaseDep, _reader: Annotated[Principal, Depends(allow(*BOARD_ROLES))]
) -> list[Area]:
    """Every node, parents before children (keys sort that way)."""
    return await db.run(areas.list_areas, db)


@router.post("", response_model=Area, status_code=status.HTTP_201_CREATED)
async def add_area(db: DatabaseDep, admin: AdminDep, body: AreaCreate) -> Area:
    return await db.run(
        areas.add_area,
        db,
        body.name,
        body.parent,
        actor=admin.username,
        now=datetime.now(UTC),
        lat=body.lat,
        lon=body.lon,
    )
