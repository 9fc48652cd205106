"""CI's load gate: the short scenario over a private stack, with a broker restart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent


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
    assert "SLOs" in result.stdout


@pytest.mark.parametrize("name", ["ci-short", "normal-day", "surge"])
def test_shipped_scenarios_are_valid(name: str) -> None:
    scenario = load_scenario(ROOT / "config/scenarios" / name)
    assert scenario.name == name


def test_a_bad_scenario_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duration_s"):
        Scenario.model_validate({"name": "x", "duration_s": -1, "devices": 1, "help_per_hour": 1})
    with pytest.raises(ValueError, match="after the run ends"):
        Scenario.model_validate(
            {
                "name": "x",
                "duration_s": 10,
                "devices": 1,
                "help_per_hour": 1,
                "faults": [{"at_s": 20, "kind": "broker_restart"}],
            }
        )
