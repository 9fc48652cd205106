"""Which device kinds talk, and which of their alerts call the centre by themselves (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class DeviceVoice:
    talks: bool = False
    call_on: frozenset[str] = frozenset()  # alert types that open a voice session

    def __post_init__(self) -> None:
        if self.call_on and not self.talks:
            raise ValueError("a device kind that does not talk cannot call on an alert")


SILENT = DeviceVoice()


@dataclass(frozen=True, slots=True)
class VoiceCatalog:
    kinds: Mapping[str, DeviceVoice]

    def of(self, device_kind: str | None) -> DeviceVoice:
        return self.kinds.get(device_kind or "", SILENT)

    def calls_on(self, device_kind: str | None, alert_type: str) -> bool:
        return alert_type in self.of(device_kind).call_on

    def any_calls_on(self, alert_type: str) -> bool:
        """Some device kind opens a voice session on this alert type."""
        return any(alert_type in voice.call_on for voice in self.kinds.values())


def parse_voice_section(raw: Mapping[str, Any], alert_types: frozenset[str]) -> VoiceCatalog:
    """The ``voice:`` section of config/alert_types.yaml; ValueError naming what is wrong."""
    kinds = {}
    for kind, spec in (raw or {}).items():
        call_on = frozenset(spec.get("call_on", ()))
        unknown = call_on - alert_types
        if unknown:
            raise ValueError(f"voice.{kind}.call_on names unknown alert types {sorted(unknown)}")
        kinds[kind] = DeviceVoice(bool(spec.get("talks", False)), call_on)
    return VoiceCatalog(kinds)


def load_voice_catalog(path: Path) -> VoiceCatalog:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_voice_section(raw.get("voice", {}), frozenset(raw["alert_types"]))
