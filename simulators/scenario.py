"""Load-test scenarios: YAML files QA writes without touching code (config/scenarios/)."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
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


class DayProfile(BaseModel):
    """How the call rate follows the time of day; the run stands for ``hours`` of a day.

    ``weights`` are relative call rates for each hour from midnight. The scenario's
    ``help_per_hour`` stays the mean over the run, so a profile moves calls between
    hours without changing how many there are.
    """

    model_config = ConfigDict(extra="forbid")
    starts_at_hour: float = Field(default=0.0, ge=0, lt=24)
    hours: float = Field(default=24.0, gt=0, le=24)
    weights: list[float] = Field(min_length=24, max_length=24)

    @model_validator(mode="after")
    def _some_hour_has_calls(self) -> DayProfile:
        if any(w < 0 for w in self.weights) or not any(self.weights):
            raise ValueError("weights must be non-negative and not all zero")
        return self

    def hour_at(self, fraction: float) -> float:
        """The hour of the day ``fraction`` (0..1) of the way through the run."""
        return (self.starts_at_hour + fraction * self.hours) % 24

    def weight_at(self, fraction: float) -> float:
        return self.weights[int(self.hour_at(fraction))]

    @cached_property  # the call schedule asks for it at every candidate call
    def mean_weight(self) -> float:
        """Mean weight over the hours the run stands for (fine steps: hours may be partial)."""
        steps = 24 * 60
        return sum(self.weight_at(i / steps) for i in range(steps)) / steps

    @property
    def peak_factor(self) -> float:
        return max(self.weights) / self.mean_weight


class Telemetry(BaseModel):
    """Routine traffic besides help calls."""

    model_config = ConfigDict(extra="forbid")
    position_every_s: float | None = Field(default=None, gt=0)  # wearables report where they are
    low_battery_share: float = Field(default=0.0, ge=0, le=1)  # devices whose battery runs low
    silent_share: float = Field(default=0.0, ge=0, le=1)  # devices that stop checking in


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
    day: DayProfile | None = None  # None: the same rate all run long
    telemetry: Telemetry = Telemetry()
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
