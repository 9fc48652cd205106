"""Loads config/services.yaml: the service menu, care levels and the loop's rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class MenuItem:
    code: str
    label_zh: str
    label_en: str
    duration_s: int
    skills: frozenset[str]
    price_fen: int  # money is kept in whole fen (0.01 yuan): sums stay exact
    subsidised: bool
    workers: int = 1

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError(f"menu item {self.code}: duration must be positive")
        if self.workers not in (1, 2):
            raise ValueError(f"menu item {self.code}: 1 or 2 workers")
        if self.price_fen < 0:
            raise ValueError(f"menu item {self.code}: negative price")


@dataclass(frozen=True, slots=True)
class CareLevel:
    level: int
    label_zh: str
    label_en: str
    monthly_subsidy_fen: int


@dataclass(frozen=True, slots=True)
class Lunch:
    window: tuple[time, time]
    duration_s: int
    after_shift_s: int  # only shifts longer than this get one


@dataclass(frozen=True)
class ServiceMenu:
    items: Mapping[str, MenuItem]
    care_levels: Mapping[int, CareLevel]
    regular_item: str
    regular_window: tuple[time, time]
    at_risk_days: int = 7
    follow_up_share: float = 0.2
    start_radius_m: float = 200.0
    diversion_s: int = 3600
    time_limit_s: float = 5.0
    max_work_s: int = 8 * 3600
    lunch: Lunch | None = None
    # (care level, economic status) -> monthly subsidy, where the bureau sets one.
    subsidy_table: Mapping[tuple[int, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.regular_item not in self.items:
            raise ValueError(f"regular_visits.item {self.regular_item!r} is not on the menu")
        if 0 not in self.care_levels:
            raise ValueError("care level 0 (no subsidy) must exist")
        if not 0.0 <= self.follow_up_share <= 1.0:
            raise ValueError("follow_up.sample_share must be between 0 and 1")

    def item(self, code: str) -> MenuItem:
        try:
            return self.items[code]
        except KeyError:
            raise KeyError(f"{code!r} is not on the service menu") from None

    def monthly_subsidy_fen(self, level: int, economic_status: str = "") -> int:
        """The subsidy table's cell for (level, status), else the level's own amount."""
        cell = self.subsidy_table.get((level, economic_status))
        if cell is not None:
            return cell
        known = self.care_levels.get(level)
        return known.monthly_subsidy_fen if known else 0


def _fen(yuan: Any) -> int:
    return round(float(yuan) * 100)


def _window(pair: Any) -> tuple[time, time]:
    start, end = (time.fromisoformat(str(v)) for v in pair)
    if end <= start:
        raise ValueError(f"window {pair} ends before it starts")
    return start, end


def parse_menu(raw: Mapping[str, Any]) -> ServiceMenu:
    items = {
        code: MenuItem(
            code=code,
            label_zh=spec["label_zh"],
            label_en=spec["label_en"],
            duration_s=int(spec["duration_min"]) * 60,
            skills=frozenset(spec.get("skills", ())),
            price_fen=_fen(spec["price_yuan"]),
            subsidised=bool(spec["subsidised"]),
            workers=int(spec.get("workers", 1)),
        )
        for code, spec in raw["menu"].items()
    }
    levels = {
        int(level): CareLevel(
            int(level), spec["label_zh"], spec["label_en"], _fen(spec["monthly_subsidy_yuan"])
        )
        for level, spec in raw["care_levels"].items()
    }
    table = {
        (int(level), str(status)): _fen(yuan)
        for level, row in (raw.get("subsidy_table") or {}).items()
        for status, yuan in row.items()
    }
    unknown = sorted({lv for lv, _ in table} - set(levels))
    if unknown:
        raise ValueError(f"subsidy_table has care levels {unknown} that care_levels lacks")
    regular, visits, planning = raw["regular_visits"], raw["visits"], raw["planning"]
    lunch = planning.get("lunch")
    return ServiceMenu(
        items=items,
        care_levels=levels,
        subsidy_table=table,
        regular_item=regular["item"],
        regular_window=_window(regular["window"]),
        at_risk_days=int(regular.get("at_risk_days", 7)),
        follow_up_share=float(raw["follow_up"]["sample_share"]),
        start_radius_m=float(visits["start_radius_m"]),
        diversion_s=int(visits["diversion_s"]),
        time_limit_s=float(planning["time_limit_s"]),
        max_work_s=round(float(planning["max_work_h"]) * 3600),
        lunch=Lunch(
            window=_window(lunch["window"]),
            duration_s=int(lunch["minutes"]) * 60,
            after_shift_s=round(float(lunch["after_shift_h"]) * 3600),
        )
        if lunch
        else None,
    )


def load_menu(path: Path) -> ServiceMenu:
    with path.open(encoding="utf-8") as f:
        return parse_menu(yaml.safe_load(f))
