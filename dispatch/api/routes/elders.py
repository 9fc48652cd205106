"""Elders' records: the list (masked), the full record (logged), changes (audited),
the change history and the access log."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import col, or_, select

from dispatch.api.deps import AdminDep, DatabaseDep, SessionDep, allow
from dispatch.domain.access import BOARD_ROLES, Principal, Role
from dispatch.domain.elders import (
    ContactRole,
    DeactivationReason,
    Hardship,
    LivingSituation,
    Sex,
    mask_id_number,
)
from dispatch.registry import elders
from dispatch.registry.changes import changes_of
from dispatch.store.tables import Elder

router = APIRouter(prefix="/api/v1/elders", tags=["elders"])
ReaderDep = Annotated[Principal, Depends(allow(*BOARD_ROLES))]
Phone = Annotated[str, Field(min_length=3, max_length=40)]
HOURS = r"^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"


class Contact(BaseModel):
    """Someone to call about the elder; the list is in calling order."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)
    name: str = Field(min_length=1, max_length=100)
    relation: str = Field(default="", max_length=40)
    phones: list[Phone] = Field(default_factory=list, max_length=5)
    role: ContactRole = ContactRole.FAMILY
    hours: str = Field(default="", pattern=HOURS, description="HH:MM-HH:MM; empty: any time")
    key_holder: bool = False


class ElderFields(BaseModel):
    """Every field of the record an administrator sets (all optional in a change)."""

    model_config = ConfigDict(extra="forbid")
    external_id: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str = Field(default="", max_length=40)
    phones: list[Phone] = Field(default_factory=list, max_length=5)
    id_number: str = Field(default="", pattern=r"^$|^\d{17}[\dXx]$")
    birth_date: date | None = None
    sex: Sex | None = None
    district: str = Field(default="", max_length=60)
    street: str = Field(default="", max_length=60)
    community: str = Field(default="", max_length=60)
    building: str = Field(default="", max_length=20)
    unit: str = Field(default="", max_length=20)
    room: str = Field(default="", max_length=20)
    living_situation: LivingSituation | None = None
    hardship: list[Hardship] = Field(default_factory=list)
    economic_status: str = Field(default="", max_length=40)
    notes: str = Field(default="", max_length=2000, description="health notes")
    medicines: str = Field(default="", max_length=2000)
    allergies: str = Field(default="", max_length=1000)
    family_doctor: str = Field(default="", max_length=200)
    access_notes: str = Field(default="", max_length=1000, description="door access")
    heart_rate_min: int | None = Field(default=None, ge=20, le=250)
    heart_rate_max: int | None = Field(default=None, ge=20, le=250)
    geofence_radius_m: float | None = Field(default=None, gt=0, le=50_000)
    care_level: int = Field(default=0, ge=0, le=10)
    regular_visits: bool = False


class ElderCreate(ElderFields):
    name: str = Field(min_length=1, max_length=100)
    address: str = Field(min_length=1, max_length=300)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    contacts: list[Contact] = Field(default_factory=list, max_length=10)


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
    principal: ReaderDep,
    district: str | None = None,
    q: str | None = Query(None, max_length=100, description="part of a name, phone or address"),
    active: bool | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
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
    if principal.sees_every_area:
        rows = session.exec(query.offset(offset).limit(limit)).all()
        return [ElderListed.of(e) for e in rows]
    # Scoped: the rule is the domain's (any area node at or above the elder's place).
    scoped = [e for e in session.exec(query) if principal.may_see_place(elders.place_of(e))]
    return [ElderListed.of(e) for e in scoped[offset : offset + limit]]


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
    principal: ReaderDep,
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
    db: DatabaseDep, _admin: AdminDep, elder_id: uuid.UUID
) -> list[AccessPublic]:
    """Every read of the full record: who, when, through which screen or call."""
    rows = await db.run(elders.access_log, db, elder_id)
    return [AccessPublic.model_validate(r) for r in rows]
