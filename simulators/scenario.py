"""Load-test scenarios: YAML files QA writes without touching code (config/scenarios/)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultKind(StrEnum):
    BROKER_RESTART = "broker_restart"
    SERVER_RESTART = "server_restart"  # the server process killed (SIGKILL) and started again
    CAREGIVERS_OFFLINE = "caregivers_offline"


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at_s: float = Field(ge=0)
    kind: FaultKind
    share: float = Field(default=1.0, gt=0, le=1)  # caregivers_offline: which share


class CaregiverBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accept_delay_s: tuple[float, float] = (2.0, 6.0)
    decline_share: float = Field(default=0.05, ge=0, le=1)
    ignore_share: float = Field(default=0.0, ge=0, le=1)  # never answer: the offer expires
    time_scale: float = Field(default=30.0, gt=0)  # travel and visits run this much faster


class Slo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    press_to_push_p99_s: float = Field(default=1.0, gt=0)
    lost: int = Field(default=0, ge=0)
    duplicated: int = Field(default=0, ge=0)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    seed: int = 1
    duration_s: float = Field(gt=0)
    devices: int = Field(gt=0)
    heartbeat_every_s: float = Field(default=300.0, gt=0)
    help_per_hour: float = Field(ge=0)  # help calls across the whole fleet, real time
    false_alarm_share: float = Field(default=0.0, ge=0, le=1)  # pressed, cancelled seconds later
    repeat_press_share: float = Field(default=0.0, ge=0, le=1)  # anxious elders press again
    caregivers: CaregiverBehaviour = CaregiverBehaviour()
    faults: list[Fault] = []
    slo: Slo = Slo()

    @model_validator(mode="after")
    def _faults_inside_the_run(self) -> Scenario:
        for fault in self.faults:
            if fault.at_s >= self.duration_s:
                raise ValueError(f"fault {fault.kind} at {fault.at_s} s is after the run ends")
        return self


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario; a bad file raises with the field that is wrong."""
    if path.is_dir() or not path.suffix:
        path = path.with_suffix(".yaml")
    return Scenario.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
