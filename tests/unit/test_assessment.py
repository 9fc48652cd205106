"""The capability-assessment scale from config: totals, grades, adjustments; the subsidy table."""

from __future__ import annotations

from datetime import date

import pytest

from config import CONFIG_DIR
from dispatch.domain.assessment import score
from dispatch.homecare.menu import load_menu
from dispatch.registry.assessments import add_months, load_scale

SCALE = load_scale(CONFIG_DIR / "assessment.yaml")


def full_marks() -> dict[str, int]:
    return {code: item.max_score for code, item in SCALE.items.items()}


def test_the_shipped_scale_is_consistent_and_says_it_is_unverified() -> None:
    assert SCALE.standard == "GB/T 42195-2022"
    assert SCALE.verified is False  # until checked against the published text
    assert len(SCALE.indicators) == 4
    assert len(SCALE.items) == 26
    assert sum(i.max_score for i in SCALE.items.values()) == SCALE.total_max == 90


def test_totals_fall_into_the_grade_whose_threshold_they_reach() -> None:
    answers = full_marks()
    assert score(SCALE, answers).grade.code == "intact"
    answers["stairs"] -= 1  # 89
    result = score(SCALE, answers)
    assert result.total == 89
    assert result.grade.code == "mild"
    assert result.by_indicator["mobility"] == 15
    zero = dict.fromkeys(SCALE.items, 0)
    assert score(SCALE, zero).grade.code == "lost"
    assert score(SCALE, zero).grade.care_level == 4


def test_findings_raise_one_grade_and_a_coma_is_lost() -> None:
    answers = full_marks()
    answers["stairs"] -= 1  # mild
    raised = score(SCALE, answers, frozenset({"dementia_diagnosed"}))
    assert raised.grade.code == "moderate"
    assert raised.raised_for == ("dementia_diagnosed",)
    assert score(SCALE, full_marks(), frozenset({"coma"})).grade.code == "lost"


def test_a_bad_form_is_refused_naming_every_problem() -> None:
    answers = full_marks()
    del answers["eating"]
    answers["stairs"] = 9
    answers["flying"] = 1
    with pytest.raises(ValueError, match="not answered") as refused:
        score(SCALE, answers, frozenset({"bad_luck"}))
    text = str(refused.value)
    for fragment in ["eating: not answered", "stairs: 9 is outside 0..4", "flying", "bad_luck"]:
        assert fragment in text


def test_next_due_is_months_later_on_a_real_day() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 12, 2), 12) == date(2027, 12, 2)


def test_subsidy_follows_care_level_and_economic_status() -> None:
    menu = load_menu(CONFIG_DIR / "services.yaml")
    assert menu.monthly_subsidy_fen(2, "dibao") == 70000
    assert menu.monthly_subsidy_fen(2, "tekun") == 90000
    assert menu.monthly_subsidy_fen(2, "") == 40000  # no column: the level's own amount
    assert menu.monthly_subsidy_fen(0, "tekun") == 30000
