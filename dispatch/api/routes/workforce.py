"""Providers, facilities, and the parts of a caregiver's record an administrator
keeps: provider, skills, certificates, weekly shifts, leave, station, transport."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import AdminDep, BoardDep, DatabaseDep
from dispatch.domain.model import TransportMode
from dispatch.registry import workforce
from dispatch.store.tables import Caregiver, Facility, Provider

router = APIRouter(prefix="/api/v1", tags=["workforce"])
Weekday = Literal["1", "2", "3", "4", "5", "6", "7"]


class ProviderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(default="", max_length=40)
    address: str = Field(default="", max_length=300)


class FacilityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["day_care", "canteen", "station"]
    provider_id: uuid.UUID | None = None
    address: str = Field(default="", max_length=300)
    area: str = Field(default="", max_length=200)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    opening_hours: str = Field(default="", max_length=100)


class CertificateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skill: str = Field(min_length=1, max_length=40)
    name: str = Field(default="", max_length=100)
    expires_on: date | None = None


class CaregiverChange(BaseModel):
    """The fields sent are changed; lists and the weekly pattern are replaced whole."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    provider_id: uuid.UUID | None = None
    skills: list[str] | None = Field(default=None, min_length=1)
    certificates: list[CertificateIn] | None = None
    shift_start: time | None = None
    shift_end: time | None = None
    weekly_shifts: dict[Weekday, tuple[time, time]] | None = Field(
        default=None, description="ISO weekday -> [start, end]; {} for the daily shift"
    )
    leave_days: list[date] | None = None
    transport: TransportMode | None = None
    home_lat: float | None = Field(default=None, ge=-90, le=90)
    home_lon: float | None = Field(default=None, ge=-180, le=180)
    station_id: uuid.UUID | None = None
    active: bool | None = None


@router.get("/providers", response_model=list[Provider])
async def list_providers(db: DatabaseDep, _reader: BoardDep) -> list[Provider]:
    return await db.run(workforce.list_providers, db)


@router.post("/providers", response_model=Provider, status_code=status.HTTP_201_CREATED)
async def add_provider(db: DatabaseDep, admin: AdminDep, body: ProviderCreate) -> Provider:
    return await db.run(
        workforce.add_provider,
        db,
        body.model_dump(),
        actor=admin.username,
        now=datetime.now(UTC),
    )


@router.get("/facilities", response_model=list[Facility])
async def list_facilities(
    db: DatabaseDep, _reader: BoardDep, kind: str | None = None
) -> list[Facility]:
    return await db.run(workforce.list_facilities, db, kind)


@router.post("/facilities", response_model=Facility, status_code=status.HTTP_201_CREATED)
async def add_facility(db: DatabaseDep, admin: AdminDep, body: FacilityCreate) -> Facility:
    return await db.run(
        workforce.add_facility,
        db,
        body.model_dump(),
        actor=admin.username,
        now=datetime.now(UTC),
    )


@router.patch("/caregivers/{caregiver_id}", response_model=Caregiver)
async def change_caregiver(
    db: DatabaseDep, admin: AdminDep, caregiver_id: uuid.UUID, body: CaregiverChange
) -> Caregiver:
    """An expired certificate takes its skill out of matching from the day after it
    expires; a weekly pattern replaces the daily shift; leave days are days off."""
    values = body.model_dump(mode="json", exclude_unset=True)
    for key in ("shift_start", "shift_end"):
        if key in values:
            values[key] = getattr(body, key)
    for key in ("provider_id", "station_id"):
        if key in values:
            values[key] = getattr(body, key)
    return await db.run(
        workforce.change_caregiver,
        db,
        caregiver_id,
        values,
        actor=admin.username,
        now=datetime.now(UTC),
    )
