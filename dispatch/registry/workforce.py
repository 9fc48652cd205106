"""Providers, facilities and caregivers' records (audited changes)."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import col, select

from dispatch.domain.model import Shift, TransportMode
from dispatch.domain.workforce import certificates_of, weekly_of, working_day
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.registry.changes import record_change
from dispatch.store.db import Database
from dispatch.store.tables import Caregiver, Facility, Provider

FACILITY_KINDS = ("day_care", "canteen", "station")


class CaregiverCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(default="", max_length=40)
    skills: list[str] = Field(min_length=1)
    shift_start: time
    shift_end: time
    transport: TransportMode = TransportMode.EBIKE
    home_lat: float = Field(ge=-90, le=90)
    home_lon: float = Field(ge=-180, le=180)

    @model_validator(mode="after")
    def _shift_has_length(self) -> CaregiverCreate:
        # The dispatcher's Shift refuses an empty window: refuse it here, with a 422.
        if self.shift_start == self.shift_end:
            raise ValueError("shift_start and shift_end must differ")
        return self


def add_provider(db: Database, values: dict[str, Any], *, actor: str, now: datetime) -> Provider:
    with db.session() as session:
        if session.exec(select(Provider).where(Provider.name == values["name"])).first():
            raise Conflict(f"provider {values['name']!r} already exists")
        provider = Provider(**values)
        session.add(provider)
        session.flush()
        record_change(
            session, "provider", str(provider.id), "created", actor, {}, provider.model_dump(), now
        )
        return provider


def list_providers(db: Database) -> list[Provider]:
    with db.read() as session:
        return list(session.exec(select(Provider).order_by(col(Provider.name))).all())


def provider_id_of(db: Database, ref: str) -> uuid.UUID:
    """The provider a person names at the shell: by its id, or by its exact name."""
    with db.read() as session:
        try:
            found = session.get(Provider, uuid.UUID(ref))
        except ValueError:
            found = session.exec(select(Provider).where(Provider.name == ref)).first()
        if found is None:
            raise NotFound("provider", ref)
        return found.id


def add_facility(db: Database, values: dict[str, Any], *, actor: str, now: datetime) -> Facility:
    if values.get("kind") not in FACILITY_KINDS:
        raise InvalidInput([f"a facility's kind is one of {', '.join(FACILITY_KINDS)}"])
    with db.session() as session:
        if values.get("provider_id") and session.get(Provider, values["provider_id"]) is None:
            raise NotFound("provider", str(values["provider_id"]))
        facility = Facility(**values)
        session.add(facility)
        session.flush()
        record_change(
            session, "facility", str(facility.id), "created", actor, {}, facility.model_dump(), now
        )
        return facility


def list_facilities(db: Database, kind: str | None = None) -> list[Facility]:
    with db.read() as session:
        query = select(Facility).order_by(col(Facility.name))
        if kind is not None:
            query = query.where(Facility.kind == kind)
        return list(session.exec(query).all())


def _check_caregiver(caregiver: Caregiver) -> None:
    problems: list[str] = []
    try:
        certificates_of(caregiver.certificates)
    except (KeyError, ValueError) as exc:
        problems.append(f"certificates: {exc}")
    try:
        weekly_of(caregiver.weekly_shifts)
    except (ValueError, TypeError) as exc:
        problems.append(f"weekly_shifts: {exc}")
    try:
        Shift(caregiver.shift_start, caregiver.shift_end)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise InvalidInput(problems)


def change_caregiver(
    db: Database, caregiver_id: uuid.UUID, values: dict[str, Any], *, actor: str, now: datetime
) -> Caregiver:
    """Change a caregiver's record; a provider or station given by id is checked and
    copied (the provider's name, the station's position) so planning reads it as before."""
    with db.session() as session:
        caregiver = session.get(Caregiver, caregiver_id)
        if caregiver is None:
            raise NotFound("caregiver", str(caregiver_id))
        before = caregiver.model_dump()
        for key, value in values.items():
            setattr(caregiver, key, value)
        if "provider_id" in values:
            provider = (
                session.get(Provider, values["provider_id"]) if values["provider_id"] else None
            )
            if values["provider_id"] and provider is None:
                raise NotFound("provider", str(values["provider_id"]))
            caregiver.provider = provider.name if provider else ""
        if "station_id" in values:
            station = session.get(Facility, values["station_id"]) if values["station_id"] else None
            if values["station_id"] and (station is None or station.kind != "station"):
                raise NotFound("station", str(values["station_id"]))
            caregiver.station_lat = station.lat if station else None
            caregiver.station_lon = station.lon if station else None
        _check_caregiver(caregiver)
        session.add(caregiver)
        record_change(
            session,
            "caregiver",
            str(caregiver.id),
            "updated",
            actor,
            before,
            caregiver.model_dump(),
            now,
        )
        return caregiver


def on_shift(c: Caregiver, moment: datetime) -> bool:
    """On shift at ``moment`` (local) by that day's record, as the dispatcher reads
    it: a day of leave or a weekday the weekly pattern leaves free is off shift."""
    day = working_day(
        c.skills,
        c.certificates,
        (c.shift_start, c.shift_end),
        c.weekly_shifts,
        c.leave_days,
        moment.date(),
    )
    return day.shift is not None and Shift(*day.shift).covers(moment)
