"""The lock files pin every dependency pyproject.toml declares.

scripts/setup.sh installs the lock file and then CareBell with --no-deps: a
dependency added to pyproject.toml but not locked would be missing on a fresh
machine, while a developer's older .venv still has it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (PEP 503)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _locked(lock_file: str) -> set[str]:
    text = (ROOT / "requirements" / lock_file).read_text(encoding="utf-8")
    return {_name(line) for line in text.splitlines() if re.match(r"[A-Za-z0-9]", line)}


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.mark.parametrize(
    ("lock_file", "requirements"),
    [
        ("lock.txt", PROJECT["dependencies"]),
        ("dev-lock.txt", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]),
    ],
)
def test_every_declared_dependency_is_pinned_in_the_lock_file(
    lock_file: str, requirements: list[str]
) -> None:
    missing = {_name(r) for r in requirements} - _locked(lock_file)
    assert not missing, f"run scripts/lock.sh: {sorted(missing)} not in requirements/{lock_file}"
