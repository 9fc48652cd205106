"""The alert-type catalogue: alert types, what each device kind's events raise,
the device policies, the supervision rules and the closure codes (pure; loaded from
config/alert_types.yaml by dispatch/runtime/catalog_file.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time

from dispatch.domain.model import AlertType


@dataclass(frozen=True, slots=True)
class DevicePolicy:
    cancel_window_s: float = 120.0
    fall_min_confidence: float = 0.6
    low_battery_percent: int = 15
    will_grace_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Supervision:
    """When a kind of device counts as offline, and when that is no alarm."""

    heartbeat_s: float
    missed_checkins: int
    quiet_start: time | None = None  # e.g. a wearable taken off to sleep
    quiet_end: time | None = None

    @property
    def silent_after_s(self) -> float:
        return self.heartbeat_s * self.missed_checkins

    def is_quiet(self, local: time) -> bool:
        if self.quiet_start is None or self.quiet_end is None:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end


@dataclass(frozen=True, slots=True)
class ClosureCode:
    """Why an alert was closed, from a configured list, so reports can count them."""

    code: str
    label_en: str
    label_zh: str


@dataclass(frozen=True)
class Catalog:
    alert_types: Mapping[str, AlertType]
    # device kind -> event type -> alert type code, or None for a state update only
    events: Mapping[str, Mapping[str, str | None]]
    policy: DevicePolicy = field(default_factory=DevicePolicy)
    supervision: Mapping[str, Supervision] = field(default_factory=dict)
    closure_codes: Mapping[str, ClosureCode] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, mapping in self.events.items():
            for event_type, code in mapping.items():
                if code is not None and code not in self.alert_types:
                    raise ValueError(f"{kind}.{event_type} maps to unknown alert type {code!r}")
        for kind in self.supervision:
            if kind not in self.events:
                raise ValueError(f"supervision names unknown device kind {kind!r}")

    def knows(self, device_kind: str, event_type: str) -> bool:
        return event_type in self.events.get(device_kind, {})

    def alert_type_for(self, device_kind: str, event_type: str) -> AlertType | None:
        """The alert an event raises, or None for events that raise none."""
        code = self.events.get(device_kind, {}).get(event_type)
        return self.alert_types[code] if code else None

    @property
    def device_kinds(self) -> frozenset[str]:
        return frozenset(self.events)
