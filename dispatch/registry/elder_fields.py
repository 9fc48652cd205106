"""An elder's record as it comes in, from the API or an import file: what each
field may hold (the validation both share)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.domain.elders import ContactRole, Hardship, LivingSituation, Sex

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
    # Where they live, both or neither: the cascade asks the nearer first.
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _both_or_neither(self) -> Contact:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("a contact's home needs both lat and lon, or neither")
        return self


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
