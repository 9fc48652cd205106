"""The simulated contacts' answers: seeded, in the configured shares."""

from __future__ import annotations

import random

import pytest

from simulators.contact_answers import NO, YES, AnswerHabits, page_answer, reply_to


def test_the_same_seed_answers_the_same_way() -> None:
    habits = AnswerHabits(answer_share=0.5, yes_share=0.5)
    first = [reply_to(random.Random("东城区"), habits) for _ in range(3)]
    again = [reply_to(random.Random("东城区"), habits) for _ in range(3)]
    assert first == again


def test_the_shares_hold_over_many_contacts() -> None:
    rng = random.Random(7)
    habits = AnswerHabits(answer_share=0.6, yes_share=0.25, delay_s=(5, 40))
    replies = [reply_to(rng, habits) for _ in range(4000)]
    said = [r for r in replies if r is not None]
    assert 0.57 < len(said) / len(replies) < 0.63
    yes = [text for _, text in said if text in YES]
    assert 0.22 < len(yes) / len(said) < 0.28
    assert all(text in YES or text in NO for _, text in said)
    assert all(5 <= after <= 40 for after, _ in said)


def test_nobody_or_everybody() -> None:
    rng = random.Random(1)
    assert reply_to(rng, AnswerHabits(answer_share=0.0)) is None
    always_no = AnswerHabits(answer_share=1.0, yes_share=0.0)
    assert all((r := reply_to(rng, always_no)) and r[1] in NO for _ in range(50))


@pytest.mark.parametrize(
    "bad", [{"answer_share": 1.5}, {"yes_share": -0.1}, {"delay_s": (10.0, 5.0)}]
)
def test_impossible_habits_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"share|delay_s"):
        AnswerHabits(**bad)  # type: ignore[arg-type]


def test_a_family_page_answer_is_going_or_cannot_come_in_the_same_shares() -> None:
    habits = AnswerHabits(answer_share=1.0, yes_share=0.5)
    answers = [page_answer(random.Random(seed), habits) for seed in range(400)]
    said = [a for _, a in filter(None, answers)]
    assert set(said) == {"going", "cannot_come"}
    assert 0.4 < said.count("going") / len(said) < 0.6
