"""Loads config/alert_types.yaml into the domain's Catalog, validated at start-up."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import yaml

from dispatch.domain.catalog import Catalog, ClosureCode, DevicePolicy, Supervision
from dispatch.domain.model import AlertType, Severity


def _supervision(spec: dict[str, Any]) -> Supervision:
    quiet = spec.get("quiet_hours")
    return Supervision(
        heartbeat_s=float(spec["heartbeat_s"]),
        missed_checkins=int(spec.get("missed_checkins", 2)),
        quiet_start=time.fromisoformat(quiet[0]) if quiet else None,
        quiet_end=time.fromisoformat(quiet[1]) if quiet else None,
    )


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
            auto_dispatch=bool(spec.get("auto_dispatch", True)),
        )
        for code, spec in raw["alert_types"].items()
    }
    return Catalog(
        alert_types=types,
        events=raw["events"],
        policy=DevicePolicy(**raw.get("policies", {})),
        supervision={k: _supervision(v) for k, v in raw.get("supervision", {}).items()},
        closure_codes={
            code: ClosureCode(code, spec["label_en"], spec["label_zh"])
            for code, spec in raw.get("closure_codes", {}).items()
        },
    )
