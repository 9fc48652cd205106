"""Value objects of the domain core: frozen, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS-84 position in degrees."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0) or math.isnan(self.lat):
            raise ValueError(f"latitude must be within [-90, 90], got {self.lat}")
        if not (-180.0 <= self.lon <= 180.0) or math.isnan(self.lon):
            raise ValueError(f"longitude must be within [-180, 180], got {self.lon}")


EARTH_RADIUS_M = 6_371_008.8


def great_circle_m(a: GeoPoint, b: GeoPoint) -> float:
    """Haversine distance in metres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def weight(self) -> int:
        """Multiplier on arrival time in the matcher's objective."""
        return {"critical": 8, "high": 4, "medium": 2, "low": 1}[self.value]


class TransportMode(StrEnum):
    WALK = "walk"
    BICYCLE = "bicycle"
    EBIKE = "ebike"
    CAR = "car"


@dataclass(frozen=True, slots=True)
class AlertType:
    """What a device event means for dispatch: how urgent, who may go, how soon."""

    code: str
    severity: Severity
    skills: frozenset[str]  # a caregiver holding any one of them may go
    arrival_deadline_s: int
    label_en: str
    label_zh: str
    caregivers: int = 1  # how many must go (lifting someone who fell takes two)
    on_scene_s: int = 1800  # expected time at the door; the shift must cover it
    auto_dispatch: bool = True  # False: an operator calls back first, then sends someone

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("alert type code must not be empty")
        if not self.skills:
            raise ValueError(f"alert type {self.code} names no skill")
        if self.arrival_deadline_s <= 0:
            raise ValueError(f"arrival deadline of {self.code} must be positive")
        if self.caregivers not in (1, 2):
            raise ValueError(f"alert type {self.code} needs 1 or 2 caregivers")
        if self.on_scene_s < 0:
            raise ValueError(f"on-scene time of {self.code} must not be negative")

    def allows(self, skills: frozenset[str]) -> bool:
        """True if someone with ``skills`` is qualified for this alert."""
        return not self.skills.isdisjoint(skills)


@dataclass(frozen=True, slots=True)
class Shift:
    """A daily working window in the city's local time; may run past midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("a shift must not start and end at the same time")

    def covers(self, moment: datetime) -> bool:
        """True if ``moment`` (local time of the city) falls inside the shift."""
        t = moment.timetz().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def covers_span(self, start: datetime, duration: timedelta) -> bool:
        """True if the shift covers both ends of [start, start + duration]."""
        return self.covers(start) and self.covers(start + duration)
