"""Supervisors' monthly sample of calls: two answered calls per operator, never more."""

from __future__ import annotations

import random
import uuid

from dispatch.voice.review import CallSummary, sample_for_review


def calls(host: str, answered: int, unanswered: int = 0, sampled: int = 0) -> list[CallSummary]:
    made = [CallSummary(uuid.uuid4(), host, True, i < sampled) for i in range(answered)]
    return made + [CallSummary(uuid.uuid4(), host, False, False) for _ in range(unanswered)]


def test_each_operator_gets_two_answered_calls_sampled() -> None:
    pool = calls("li", 5, unanswered=3) + calls("wang", 2) + calls("zhao", 1, unanswered=4)
    chosen = set(sample_for_review(pool, random.Random(1)))
    by_host = {h: sum(c.id in chosen for c in pool if c.host == h) for h in ("li", "wang", "zhao")}
    assert by_host == {"li": 2, "wang": 2, "zhao": 1}
    assert all(c.answered for c in pool if c.id in chosen)


def test_sampling_again_tops_up_and_never_exceeds_two() -> None:
    pool = calls("li", 5, sampled=1) + calls("wang", 4, sampled=2)
    chosen = sample_for_review(pool, random.Random(2))
    assert len(chosen) == 1
    assert chosen[0] in {c.id for c in pool if c.host == "li"}


def test_the_same_seed_draws_the_same_calls() -> None:
    pool = calls("li", 9)
    assert sample_for_review(pool, random.Random(7)) == sample_for_review(pool, random.Random(7))
