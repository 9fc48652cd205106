"""Request and response bodies at the HTTP edge."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from devices.protocol import DEVICE_ID_PATTERN
from dispatch.domain.model import TransportMode


class ElderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(default="", max_length=40)
    address: str = Field(min_length=1, max_length=300)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    district: str = ""
    street: str = ""
    community: str = ""
    notes: str = Field(default="", max_length=2000)


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=f"^{DEVICE_ID_PATTERN}$")
    kind: str
    elder_id: uuid.UUID | None = None
    active: bool = True


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


class AuditPublic(BaseModel):
    id: int
    alert_id: uuid.UUID
    order_id: uuid.UUID | None
    caregiver_id: uuid.UUID | None
    entity: str
    from_state: str | None
    to_state: str
    actor: str
    action: str | None = None  # what happened when the state did not change
    at: datetime
    detail: dict[str, Any]


class Health(BaseModel):
    status: str
    database: bool
    redis: bool
    mqtt: bool | None = Field(description="null when this process runs no gateway")
    ingest: bool | None = Field(
        description="false while the gateway's batches fail to store (retried, unacknowledged);"
        " null when this process runs no gateway"
    )
