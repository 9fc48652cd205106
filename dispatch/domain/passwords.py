"""The password policy (pure): long enough, not the user name, not a common password.

"Common" is zxcvbn's judgement: it knows the most used passwords, names, words
and keyboard patterns (its frequency lists ship inside the package), and scores
how many guesses a password takes; 3 of 4 means "safely unguessable" offline
against a slow hash, which argon2id is.
"""

from __future__ import annotations

from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # the package ships no types

MIN_LENGTH = 10
MAX_LENGTH = 128  # zxcvbn's search grows with length; a pass phrase fits in 128
MIN_SCORE = 3


def password_problems(password: str, username: str) -> list[str]:
    """Why ``password`` may not be used by ``username``; empty when it may."""
    if len(password) < MIN_LENGTH:
        return [f"a password needs at least {MIN_LENGTH} characters"]
    if len(password) > MAX_LENGTH:
        return [f"a password has at most {MAX_LENGTH} characters"]
    problems: list[str] = []
    if username and username.casefold() in password.casefold():
        problems.append("a password may not contain the user name")
    verdict = zxcvbn(password, user_inputs=[username] if username else [])
    if verdict["score"] < MIN_SCORE:
        warning = verdict["feedback"].get("warning") or "it is too easy to guess"
        problems.append(f"a common or guessable password: {warning}")
    return problems
