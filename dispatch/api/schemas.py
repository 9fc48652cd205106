"""Request and response bodies at the HTTP edge."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.protocol import DEVICE_ID_PATTERN
from dispatch.domain.model import TransportMode


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

    @model_validator(mode="after")
    def _shift_has_length(self) -> CaregiverCreate:
        # The dispatcher's Shift refuses an empty window: refuse it here, with a 422.
        if self.shift_start == self.shift_end:
            raise ValueError("shift_start and shift_end must differ")
        return self


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
    loops_down: list[str] = Field(
        default_factory=list,
        description="background loops that failed and are not running again yet"
        " (each is restarted with backoff); any makes the status unavailable",
    )
