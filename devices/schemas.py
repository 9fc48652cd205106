"""Writes the JSON Schemas of device payloads into docs/schemas (run after changes)."""

from __future__ import annotations

import json
from pathlib import Path

from devices.protocol import (
    CommandPayload,
    DeviceEventPayload,
    ReceivedPayload,
    StatusPayload,
    VoiceDownPayload,
    VoiceUpPayload,
)

TARGET = Path(__file__).resolve().parent.parent / "docs" / "schemas"


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    models = (
        (DeviceEventPayload, "device-event"),
        (StatusPayload, "device-status"),
        (CommandPayload, "device-command"),
        (ReceivedPayload, "device-received"),
        (VoiceDownPayload, "device-voice-down"),
        (VoiceUpPayload, "device-voice-up"),
    )
    for model, name in models:
        text = json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False) + "\n"
        (TARGET / f"{name}.schema.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
