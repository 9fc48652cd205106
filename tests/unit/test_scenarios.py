"""The load scenarios: the shipped ones are valid, bad ones are refused clearly, and
the report reads a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["ci-short", "normal-day", "surge", "server-restart"])
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


def test_report_pages_read_the_run(tmp_path: Path) -> None:
    from simulators.loadrun import RunResult
    from simulators.metrics import Journey, RunMetrics
    from simulators.report import summarize, write_html

    metrics = RunMetrics()
    for i in range(20):
        j = Journey(
            f"pb-{i}",
            pressed_at=i,
            stored_at=i + 0.01,
            pushed_at=i + 0.05,
            accepted_at=i + 2,
            arrived_at=i + 5,
            deadline_s=900,
        )
        metrics.journeys[j.device_id] = j
        metrics.samples.append((i + 0.05, "pushed", 0.05))
        metrics.open_calls.append((i, i % 3))
    scenario = Scenario.model_validate(
        {"name": "unit", "duration_s": 20, "devices": 20, "help_per_hour": 3600}
    )
    result = RunResult(
        scenario,
        metrics,
        [0.6, 0.7, 0.9],
        lost=0,
        duplicated=1,
        server_cpu=[10.0, 30.0],
        server_rss_mb=[100.0],
        devices=20,
    )
    summary = summarize(result)
    assert summary["stages_ms"]["pushed"]["p50"] == 50.0
    assert summary["reached_by_deadline"] == 1.0
    assert summary["ok"] is False  # one duplicate misses the SLO
    write_html(summary, result, tmp_path / "unit.html")
    page = (tmp_path / "unit.html").read_text()
    assert "SLO MISSED" in page
    assert "data:image/png;base64," in page
