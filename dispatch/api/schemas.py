"""Request and response bodies at the HTTP edge."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from devices.protocol import DEVICE_ID_PATTERN


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=f"^{DEVICE_ID_PATTERN}$")
    kind: str
    elder_id: uuid.UUID | None = None
    active: bool = True


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
