"""The password policy: length, not the user name, not a common password."""

from __future__ import annotations

from dispatch.domain.passwords import MIN_LENGTH, password_problems


def test_a_long_uncommon_password_is_accepted() -> None:
    assert password_problems("Brass-otter-lantern-71", "wang.li") == []


def test_a_short_password_is_refused_with_the_minimum_named() -> None:
    [problem] = password_problems("Xk4#p", "wang.li")
    assert str(MIN_LENGTH) in problem


def test_a_password_containing_the_user_name_is_refused() -> None:
    problems = password_problems("Wang.Li-2026-river", "wang.li")
    assert any("user name" in p for p in problems)


def test_common_passwords_are_refused_even_when_long_enough() -> None:
    for common in ["password123", "1234567890", "qwertyuiop", "iloveyou11"]:
        problems = password_problems(common, "someone")
        assert any("common or guessable" in p for p in problems), common


def test_an_over_long_password_is_refused_before_it_is_scored() -> None:
    assert password_problems("a" * 500, "someone") != []
