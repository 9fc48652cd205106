"""Elders' records: the list (masked), the full record (logged), changes (audited),
the change history and the access log."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import col, or_, select

from dispatch.api.deps import AdminDep, BoardDep, DatabaseDep, DataOfficerDep, SessionDep
from dispatch.domain.access import Principal, Role
from dispatch.domain.elders import (
    DeactivationReason,
    mask_id_number,
)
from dispatch.registry import elders, privacy
from dispatch.registry.changes import changes_of
from dispatch.registry.elder_fields import Contact, ElderCreate, ElderFields
from dispatch.store.reads import ELDER_PLACE, in_areas
from dispatch.store.tables import Elder

router = APIRouter(prefix="/api/v1/elders", tags=["elders"])


class ElderUpdate(BaseModel):
    """A change: only the fields sent are changed; ``contacts`` replaces the list."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    address: str | None = Field(default=None, min_length=1, max_length=300)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    contacts: list[Contact] | None = Field(default=None, max_length=10)
    active: bool | None = None
    deactivation_reason: DeactivationReason | None = None
    fields: ElderFields | None = Field(default=None, description="any of the record's fields")

    @model_validator(mode="after")
    def _deactivation_has_reason(self) -> ElderUpdate:
        if self.active is False and self.deactivation_reason is None:
            reasons = ", ".join(r.value for r in DeactivationReason)
            raise ValueError(f"a deactivation needs a deactivation_reason ({reasons})")
        return self


class ElderListed(BaseModel):
    """An elder in a list: no health notes or door access; the ID number masked."""

    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    external_id: str | None
    name: str
    phone: str
    address: str
    lat: float
    lon: float
    district: str
    street: str
    community: str
    id_number: str
    care_level: int
    regular_visits: bool
    active: bool

    @classmethod
    def of(cls, elder: Elder) -> ElderListed:
        listed = cls.model_validate(elder)
        listed.id_number = mask_id_number(elder.id_number)
        return listed


class DeviceBound(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    active: bool
    online: bool | None
    battery: int | None


class ElderFull(ElderListed):
    """The whole record: what an operator needs on the phone; the ID number whole
    for administrators only."""

    phones: list[str]
    birth_date: date | None
    sex: str
    building: str
    unit: str
    room: str
    living_situation: str
    hardship: list[str]
    economic_status: str
    notes: str
    medicines: str
    allergies: str
    family_doctor: str
    emergency_contact: str
    access_notes: str
    heart_rate_min: int | None
    heart_rate_max: int | None
    geofence_radius_m: float | None
    deactivated_at: datetime | None = None
    deactivation_reason: str | None = None
    contacts: list[Contact]
    devices: list[DeviceBound]

    @classmethod
    def of_record(cls, record: elders.ElderRecord, principal: Principal) -> ElderFull:
        data = record.elder.model_dump()
        if principal.role is not Role.ADMIN:
            data["id_number"] = mask_id_number(record.elder.id_number)
        data["contacts"] = [Contact.model_validate(c) for c in record.contacts]
        data["devices"] = [DeviceBound.model_validate(d) for d in record.devices]
        return cls.model_validate(data)


class ChangePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    action: str
    actor: str
    at: datetime
    fields: list[str]
    before: dict[str, object]
    after: dict[str, object]


class AccessPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    actor: str
    role: str
    at: datetime
    via: str


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the table keeps them: enums as their text, an unset text as ""."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, list):
            value = [v.value if isinstance(v, Enum) else v for v in value]
        elif value is None and key in ("sex", "living_situation"):
            value = ""
        out[key] = value
    return out


@router.get("", response_model=list[ElderListed])
def list_elders(
    session: SessionDep,
    principal: BoardDep,
    district: str | None = None,
    q: str | None = Query(
        None,
        max_length=100,
        pattern=r"^[^\x00-\x1f]*$",  # a NUL made SQLite's LIKE match every elder
        description="part of a name, phone or address",
    ),
    active: bool | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31),
) -> list[ElderListed]:
    """Elders in the caller's areas, masked (no health notes, door access or whole ID)."""
    query = select(Elder).order_by(col(Elder.name), col(Elder.id))
    if district is not None:
        query = query.where(Elder.district == district)
    if active is not None:
        query = query.where(Elder.active == active)
    if q:
        query = query.where(
            or_(
                col(Elder.name).contains(q, autoescape=True),
                col(Elder.phone).contains(q, autoescape=True),
                col(Elder.address).contains(q, autoescape=True),
            )
        )
    # Scoped in SQL by the domain's rule (any area node at or above the elder's place).
    rows = session.exec(in_areas(query, principal, ELDER_PLACE).offset(offset).limit(limit)).all()
    return [ElderListed.of(e) for e in rows]


@router.post("", response_model=ElderFull, status_code=status.HTTP_201_CREATED)
async def create_elder(db: DatabaseDep, admin: AdminDep, body: ElderCreate) -> ElderFull:
    values = _stored(body.model_dump(exclude={"contacts"}))
    contacts = [_stored(c.model_dump()) for c in body.contacts]
    record = await db.run(
        elders.create_elder,
        db,
        values,
        contacts,
        actor=admin.username,
        now=datetime.now(UTC),
    )
    return ElderFull.of_record(record, admin)


@router.get("/{elder_id}", response_model=ElderFull)
async def get_elder(
    db: DatabaseDep,
    principal: BoardDep,
    request: Request,
    elder_id: uuid.UUID,
    screen: Annotated[
        str | None, Header(alias="X-CareBell-Screen", max_length=60, pattern=r"^[\w./-]+$")
    ] = None,
) -> ElderFull:
    """The full record; every read is logged with who, when and through which screen
    (the page names it in ``X-CareBell-Screen``) or call."""
    via = f"screen:{screen}" if screen else f"{request.method} {request.url.path}"
    record = await db.run(
        elders.read_record, db, principal, elder_id, via=via, now=datetime.now(UTC)
    )
    return ElderFull.of_record(record, principal)


@router.patch("/{elder_id}", response_model=ElderFull)
async def change_elder(
    db: DatabaseDep, admin: AdminDep, elder_id: uuid.UUID, body: ElderUpdate
) -> ElderFull:
    """Change the fields sent (``fields`` holds the rest of the record, set as a
    whole when sent: read, edit, send back); every change is audited."""
    values = body.model_dump(
        exclude_unset=True, exclude={"contacts", "fields", "active", "deactivation_reason"}
    )
    if body.fields is not None:
        values.update(body.fields.model_dump(exclude_unset=True))
    if body.active is not None:
        values["active"] = body.active
        values["deactivation_reason"] = body.deactivation_reason
    contacts = None if body.contacts is None else [_stored(c.model_dump()) for c in body.contacts]
    record = await db.run(
        elders.change_elder,
        db,
        admin,
        elder_id,
        _stored(values),
        contacts,
        now=datetime.now(UTC),
    )
    return ElderFull.of_record(record, admin)


@router.get("/{elder_id}/changes", response_model=list[ChangePublic])
def elder_changes(session: SessionDep, _admin: AdminDep, elder_id: uuid.UUID) -> list[ChangePublic]:
    """Who changed what, when, before and after (sensitive fields: "(changed)")."""
    if session.get(Elder, elder_id) is None:
        return []
    return [ChangePublic.model_validate(c) for c in changes_of(session, "elder", str(elder_id))]


@router.get("/{elder_id}/access-log", response_model=list[AccessPublic])
async def elder_access_log(
    db: DatabaseDep, _officer: DataOfficerDep, elder_id: uuid.UUID
) -> list[AccessPublic]:
    """Every read of the full record: who, when, through which screen or call."""
    rows = await db.run(elders.access_log, db, elder_id)
    return [AccessPublic.model_validate(r) for r in rows]


@router.get("/{elder_id}/export")
async def export_elder(
    db: DatabaseDep, officer: DataOfficerDep, elder_id: uuid.UUID
) -> dict[str, Any]:
    """Everything held about the elder, as JSON (a PIPL request: art. 45); the
    export is on the access log."""
    return await db.run(privacy.export_elder, db, officer, elder_id, now=datetime.now(UTC))


@router.post("/{elder_id}/anonymise", response_model=ElderListed)
async def anonymise_elder(
    db: DatabaseDep, officer: DataOfficerDep, elder_id: uuid.UUID
) -> ElderListed:
    """Remove what identifies the elder (name, numbers, address, health, contacts);
    alerts, visits, assessments and the audit trail stay, naming nobody."""
    elder = await db.run(privacy.anonymise_elder, db, officer, elder_id, now=datetime.now(UTC))
    return ElderListed.of(elder)
