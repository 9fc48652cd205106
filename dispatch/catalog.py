"""Loads config/alert_types.yaml into domain objects, validated at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from dispatch.domain.model import AlertType, Severity


@dataclass(frozen=True)
class Catalog:
    alert_types: Mapping[str, AlertType]
    # device kind -> event type -> alert type code
    events: Mapping[str, Mapping[str, str]]

    def __post_init__(self) -> None:
        for kind, mapping in self.events.items():
            for event_type, code in mapping.items():
                if code not in self.alert_types:
                    raise ValueError(f"{kind}.{event_type} maps to unknown alert type {code!r}")

    def alert_type_for(self, device_kind: str, event_type: str) -> AlertType | None:
        """The alert an event raises, or None for events that raise none."""
        code = self.events.get(device_kind, {}).get(event_type)
        return self.alert_types[code] if code else None

    @property
    def device_kinds(self) -> frozenset[str]:
        return frozenset(self.events)


def load_catalog(path: Path) -> Catalog:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    types = {
        code: AlertType(
            code=code,
            severity=Severity(spec["severity"]),
            skills=frozenset(spec["skills"]),
            arrival_deadline_s=int(spec["arrival_deadline_s"]),
            label_en=spec["label_en"],
            label_zh=spec["label_zh"],
            caregivers=int(spec.get("caregivers", 1)),
            on_scene_s=int(spec.get("on_scene_s", 1800)),
        )
        for code, spec in raw["alert_types"].items()
    }
    return Catalog(alert_types=types, events=raw["events"])
