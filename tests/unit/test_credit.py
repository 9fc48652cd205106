"""Credit scores from a month's facts (pure)."""

from __future__ import annotations

import pytest
import yaml

from config import CONFIG_DIR
from dispatch.domain.credit import CreditFacts, CreditPolicy, bonus_s, parse_policy, pooled, score

POLICY = CreditPolicy()  # weights 2, 3, 2, 2, 1; good from 90, low below 60; bonus up to 60 s


def test_a_score_is_the_weighted_mean_of_its_parts_and_explains_them() -> None:
    facts = CreditFacts(
        offers_accepted=3,
        offers_expired=1,  # 75 %
        arrived_on_time=2,  # 100 %
        visits_started_at_address=9,
        visits_started_away=1,  # 90 %
        visits_done=10,  # 100 %
        ratings=(5, 3),  # (4 + 2) / 8 = 75 %
    )
    s = score(facts, POLICY)
    # (2 x 75 + 3 x 100 + 2 x 90 + 2 x 100 + 1 x 75) / 10 = 90.5
    assert s.score == 90.5
    assert s.standing == "good"
    points = {c.part: round(c.points, 2) for c in s.parts}
    assert points == {
        "offers_taken": 15.0,
        "on_time": 30.0,
        "at_address": 18.0,
        "visits_kept": 20.0,
        "satisfaction": 7.5,
    }
    assert sum(points.values()) == pytest.approx(s.score)
    assert s.facts == 4 + 2 + 10 + 10 + 2
    assert s.as_dict()["parts"][0] == {
        "part": "offers_taken",
        "good": 3,
        "facts": 4,
        "rate": 0.75,
        "weight": 2.0,
        "points": 15.0,
    }


def test_parts_without_facts_leave_their_weight_to_the_others() -> None:
    s = score(CreditFacts(arrived_on_time=3, arrived_late=2, visits_done=5), POLICY)
    # on_time 60 % (weight 3), visits_kept 100 % (weight 2): (180 + 200) / 5
    assert s.score == 76.0
    assert [c.part for c in s.parts] == ["on_time", "visits_kept"]
    assert (s.standing, s.bonus_s) == ("fair", 0.0)


def test_too_few_facts_give_no_score_not_a_low_one() -> None:
    s = score(CreditFacts(offers_expired=2, visits_missed=1), POLICY)
    assert (s.score, s.standing, s.bonus_s) == (None, "unscored", 0.0)


def test_a_low_score_and_complaints() -> None:
    facts = CreditFacts(offers_accepted=1, offers_expired=5, visits_done=4, visits_missed=4)
    s = score(facts, POLICY)
    # (2 x 16.67 + 2 x 50) / 4 = 33.3
    assert (s.score, s.standing) == (33.3, "low")
    with_complaints = score(CreditFacts(visits_done=10, complaints=3), POLICY)
    assert with_complaints.score == 85.0


def test_the_bonus_is_bounded_and_rises_from_the_good_threshold() -> None:
    assert bonus_s(89.9, POLICY) == 0.0
    assert bonus_s(90.0, POLICY) == 0.0
    assert bonus_s(95.0, POLICY) == 30.0
    assert bonus_s(100.0, POLICY) == POLICY.bonus_max_s == 60.0
    with pytest.raises(ValueError, match="bonus_max_s"):
        CreditPolicy(bonus_max_s=600)


def test_a_provider_pools_its_caregivers_facts() -> None:
    a = CreditFacts(offers_accepted=2, ratings=(5,))
    b = CreditFacts(offers_expired=2, visits_done=3, ratings=(1,))
    assert pooled([a, b]) == CreditFacts(
        offers_accepted=2, offers_expired=2, visits_done=3, ratings=(5, 1)
    )


def test_the_shipped_config_parses_and_bad_config_is_refused() -> None:
    raw = yaml.safe_load((CONFIG_DIR / "credit.yaml").read_text(encoding="utf-8"))
    assert parse_policy(raw) == POLICY
    with pytest.raises(ValueError, match="weights must name"):
        parse_policy({"weights": {"on_time": 1}})
    with pytest.raises(ValueError, match="thresholds"):
        parse_policy({**raw, "thresholds": {"good_from": 50, "low_below": 70}})
    with pytest.raises(ValueError, match="negative"):
        CreditFacts(visits_done=-1)
