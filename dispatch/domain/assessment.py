"""Capability assessment (pure): a scale of indicators and items, a total, a grade.

The scale comes from config/assessment.yaml (GB/T 42195-2022); see that file for
what has and has not been checked against the standard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    label_zh: str
    label_en: str
    max_score: int

    def __post_init__(self) -> None:
        if self.max_score < 1:
            raise ValueError(f"item {self.code}: max must be at least 1")


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    label_zh: str
    label_en: str
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Grade:
    code: str
    label_zh: str
    label_en: str
    min_total: int
    care_level: int


@dataclass(frozen=True, slots=True)
class Scale:
    standard: str
    verified: bool
    source: str
    total_max: int
    reassess_after_months: int
    indicators: tuple[Indicator, ...]
    grades: tuple[Grade, ...]  # highest first
    raise_one_grade_for: frozenset[str] = frozenset()
    lost_for: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        total = sum(i.max_score for ind in self.indicators for i in ind.items)
        if total != self.total_max:
            raise ValueError(f"the items add up to {total}, not total_max {self.total_max}")
        codes = [i.code for ind in self.indicators for i in ind.items]
        if len(codes) != len(set(codes)):
            raise ValueError("item codes must be unique")
        mins = [g.min_total for g in self.grades]
        if not mins or mins != sorted(mins, reverse=True) or mins[-1] != 0:
            raise ValueError("grades run from the highest min_total down to 0")
        if len(set(mins)) != len(mins):
            raise ValueError("two grades share a min_total")

    @property
    def items(self) -> dict[str, Item]:
        return {i.code: i for ind in self.indicators for i in ind.items}


@dataclass(frozen=True, slots=True)
class Result:
    total: int
    by_indicator: dict[str, int]
    grade: Grade
    raised_for: tuple[str, ...]  # the findings that moved the grade


def score(
    scale: Scale, answers: Mapping[str, int], findings: frozenset[str] = frozenset()
) -> Result:
    """Score a completed form. ValueError names every missing, unknown or out-of-range item.

    ``findings`` are the adjustment findings (``scale.raise_one_grade_for``,
    ``scale.lost_for``); an unknown finding is refused too.
    """
    items = scale.items
    problems = [f"{code}: not answered" for code in items if code not in answers]
    problems += [
        f"{code}: not an item of {scale.standard}" for code in answers if code not in items
    ]
    problems += [
        f"{code}: {value} is outside 0..{items[code].max_score}"
        for code, value in answers.items()
        if code in items and not 0 <= value <= items[code].max_score
    ]
    known = scale.raise_one_grade_for | scale.lost_for
    problems += [f"finding {f!r} is not known" for f in sorted(findings - known)]
    if problems:
        raise ValueError("; ".join(problems))
    by_indicator = {ind.code: sum(answers[i.code] for i in ind.items) for ind in scale.indicators}
    total = sum(by_indicator.values())
    position = next(n for n, g in enumerate(scale.grades) if total >= g.min_total)
    raised = tuple(sorted(findings & scale.raise_one_grade_for))
    if findings & scale.lost_for:
        position = len(scale.grades) - 1
        raised = tuple(sorted(findings & scale.lost_for))
    elif raised:
        position = min(position + 1, len(scale.grades) - 1)
    return Result(total, by_indicator, scale.grades[position], raised)
