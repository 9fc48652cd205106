"""CI's load gate: the short scenario over a private stack, with a broker restart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(330)  # a 100 s run on a quiet machine; the subprocess has 300 s
def test_short_scenario_keeps_its_slos(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatch",
            "simulate",
            "--scenario",
            str(ROOT / "config/scenarios/ci-short.yaml"),
            "--spawn",
            "--report",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "ci-short.json").read_text())
    assert report["ok"] is True
    assert (report["lost"], report["duplicated"]) == (0, 0)
    assert report["help_calls"] >= 30
    assert report["stages_ms"]["pushed"]["p50"] is not None
    assert report["stages_ms"]["arrived"]["p50"] is not None
    # Routine traffic ran beside the calls: positions, low batteries, silent devices.
    sent = report["events_by_type"]
    assert sent["heartbeat"] > 300
    assert sent["position"] > 0
    assert sent["lowBattery"] == round(300 * 0.02)
    assert report["devices_silenced"] == round(300 * 0.01)
    assert "SLOs" in result.stdout
