"""Elders, devices and caregivers: the registry the dispatcher works from."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import TypeVar

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict
from sqlmodel import col, select

from dispatch.api.deps import CatalogDep, DatabaseDep, PrincipalDep, SessionDep
from dispatch.api.schemas import DeviceCreate
from dispatch.domain.access import Role
from dispatch.registry import provisioning
from dispatch.registry.workforce import CaregiverCreate
from dispatch.store.tables import Caregiver, Device, Elder

router = APIRouter(prefix="/api/v1")
Limit = Query(100, ge=1, le=1000)
Offset = Query(0, ge=0, le=2**31)
T = TypeVar("T")


def _get_or_404(session: SessionDep, table: type[T], key: object, kind: str) -> T:
    row = session.get(table, key)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} {key} not found")
    return row


@router.get("/devices", response_model=list[Device])
def list_devices(
    session: SessionDep,
    catalog: CatalogDep,
    elder_id: uuid.UUID | None = None,
    kind: str | None = None,
    active: bool | None = None,
    online: bool | None = None,
    low_battery: bool = False,
    limit: int = Limit,
    offset: int = Offset,
) -> list[Device]:
    """``online=false``: the devices offline now; ``low_battery=true``: those to recharge."""
    query = select(Device).order_by(col(Device.id))
    if online is not None:
        query = query.where(Device.online == online)
    if low_battery:
        threshold = catalog.policy.low_battery_percent
        query = query.where(col(Device.battery) <= threshold)
    if elder_id is not None:
        query = query.where(Device.elder_id == elder_id)
    if kind is not None:
        query = query.where(Device.kind == kind)
    if active is not None:
        query = query.where(Device.active == active)
    return list(session.exec(query.offset(offset).limit(limit)).all())


@router.get("/devices/{device_id}", response_model=Device)
def get_device(session: SessionDep, device_id: str) -> Device:
    return _get_or_404(session, Device, device_id, "device")


@router.post("/devices", response_model=Device, status_code=status.HTTP_201_CREATED)
def create_device(session: SessionDep, catalog: CatalogDep, body: DeviceCreate) -> Device:
    if body.kind not in catalog.device_kinds:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown device kind {body.kind!r}; known: {sorted(catalog.device_kinds)}",
        )
    if session.get(Device, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"device {body.id} already exists")
    if body.elder_id is not None:
        _get_or_404(session, Elder, body.elder_id, "elder")
    device = Device(**body.model_dump())
    session.add(device)
    return device


@router.get("/caregivers", response_model=list[Caregiver])
def list_caregivers(
    session: SessionDep,
    principal: PrincipalDep,
    skill: str | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> list[Caregiver]:
    query = select(Caregiver).order_by(col(Caregiver.name), col(Caregiver.id))
    if principal.role is Role.PROVIDER_STAFF:  # their provider's, none of the others'
        query = query.where(Caregiver.provider_id == principal.provider_id)
    rows = session.exec(query).all() if skill else session.exec(query.offset(offset).limit(limit))
    if skill:  # skills are a JSON list; filtering here keeps SQLite and PostgreSQL alike
        return [c for c in rows if skill in c.skills][offset : offset + limit]
    return list(rows)


@router.get("/caregivers/{caregiver_id}", response_model=Caregiver)
def get_caregiver(
    session: SessionDep, principal: PrincipalDep, caregiver_id: uuid.UUID
) -> Caregiver:
    caregiver = _get_or_404(session, Caregiver, caregiver_id, "caregiver")
    if principal.role is Role.PROVIDER_STAFF and caregiver.provider_id != principal.provider_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"caregiver {caregiver_id} not found")
    return caregiver


@router.post("/caregivers", response_model=Caregiver, status_code=status.HTTP_201_CREATED)
def create_caregiver(session: SessionDep, body: CaregiverCreate) -> Caregiver:
    caregiver = Caregiver(**body.model_dump(mode="python"))
    caregiver.transport = body.transport.value
    session.add(caregiver)
    return caregiver


class Binding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    elder_id: uuid.UUID | None


class Credentials(BaseModel):
    device_id: str
    username: str
    password: str  # shown this once; only its hash is kept


class ImportReport(BaseModel):
    created: int
    failed: int
    rows: list[dict[str, object]]


@router.post("/devices/import", response_model=ImportReport)
async def import_devices(db: DatabaseDep, catalog: CatalogDep, request: Request) -> ImportReport:
    """A CSV of ``device_id,kind[,elder_id]``: every good row created with its
    broker password (shown once), every bad row reported with its reason."""
    text = (await request.body()).decode("utf-8-sig", errors="replace")
    rows = await db.run(provisioning.import_csv, db, catalog, text)
    return ImportReport(
        created=sum(r.ok for r in rows),
        failed=sum(not r.ok for r in rows),
        rows=[asdict(r) for r in rows],
    )


@router.post("/devices/{device_id}/credentials", response_model=Credentials)
def issue_credentials(session: SessionDep, device_id: str) -> Credentials:
    """A new broker password for the device; the old one stops working at the next
    `carebell broker-auth`."""
    device = _get_or_404(session, Device, device_id, "device")
    if not device.active:
        raise HTTPException(status.HTTP_409_CONFLICT, f"device {device_id} is deactivated")
    password = provisioning.issue_credentials(session, device_id)
    return Credentials(device_id=device_id, username=device_id, password=password)


@router.post("/devices/{device_id}/deactivate", response_model=Device)
async def deactivate_device(db: DatabaseDep, device_id: str) -> Device:
    return await db.run(provisioning.deactivate, db, device_id)


@router.put("/devices/{device_id}/elder", response_model=Device)
async def bind_device(db: DatabaseDep, device_id: str, body: Binding) -> Device:
    return await db.run(provisioning.bind, db, device_id, body.elder_id)
