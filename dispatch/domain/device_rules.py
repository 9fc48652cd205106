"""Which alert a device event raises, after the policies (pure: no I/O).

The catalogue maps each kind's events to an alert type or to none; on top of
that a fall the wearable is unsure of asks for a call back rather than a
caregiver, and heart-rate and position reports raise an alert only when they
leave the range or the safe area the elder's record sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.protocol import DeviceEvent
from dispatch.domain.catalog import Catalog
from dispatch.domain.model import GeoPoint, great_circle_m
from dispatch.errors import PayloadError

FALL_UNCONFIRMED = "fall_unconfirmed"
HEART_RATE = "heart_rate"
GEOFENCE_EXIT = "geofence_exit"
DEVICE_OFFLINE = "device_offline"
# An event that ends what another one started: the alert it closes, by type.
CLOSES = {"powerRestored": "power_lost"}
RULE_ALERTS = (FALL_UNCONFIRMED, HEART_RATE, GEOFENCE_EXIT, DEVICE_OFFLINE, *CLOSES.values())
CALL_BACK_FIRST = "call the elder back first"  # the escalation reason operators see


@dataclass(frozen=True, slots=True)
class ElderLimits:
    """What the elder's record says is normal."""

    heart_rate_min: int | None = None
    heart_rate_max: int | None = None
    home: GeoPoint | None = None
    geofence_radius_m: float | None = None  # None or 0: no safe area set

    def heart_rate_ok(self, bpm: int) -> bool:
        low = self.heart_rate_min if self.heart_rate_min is not None else 0
        high = self.heart_rate_max if self.heart_rate_max is not None else 1_000
        return low <= bpm <= high

    def inside_geofence(self, lat: float, lon: float) -> bool:
        if self.home is None or not self.geofence_radius_m:
            return True
        return great_circle_m(self.home, GeoPoint(lat, lon)) <= self.geofence_radius_m


def alert_code(catalog: Catalog, kind: str, event: DeviceEvent, limits: ElderLimits) -> str | None:
    """The alert type ``event`` raises, or None; PayloadError for an event it cannot send."""
    if not catalog.knows(kind, event.type):
        raise PayloadError("unknown_event", f"a {kind} sends no {event.type!r} event")
    unsure = event.confidence is not None and event.confidence < catalog.policy.fall_min_confidence
    if event.type == "fall" and unsure:
        return FALL_UNCONFIRMED
    if event.type == "heartRate":
        if event.heart_rate is None:
            raise PayloadError("invalid", "heartRate: heart_rate is missing")
        return None if limits.heart_rate_ok(event.heart_rate) else HEART_RATE
    if event.type == "position":
        if event.position is None:
            raise PayloadError("invalid", "position: position is missing")
        return None if limits.inside_geofence(*event.position) else GEOFENCE_EXIT
    return catalog.events[kind][event.type]
