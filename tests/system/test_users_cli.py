"""``carebell users``: the first administrator of a fresh install, from the shell."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from dispatch.registry import accounts
from dispatch.store.db import Database
from dispatch.store.tables import UserAccount

CAREBELL = [sys.executable, "-m", "dispatch"]


def _run(db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAREBELL_DATABASE_URL": db_url}
    return subprocess.run(
        [*CAREBELL, "users", *args], input=stdin, capture_output=True, text=True, env=env
    )


def _stored(db_url: str, username: str) -> UserAccount:
    db = Database(db_url)
    try:
        return accounts.get_user(db, username)
    finally:
        db.dispose()


def test_first_admin_gets_a_one_time_password_that_logs_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    made = _run(url, "add", "chief", "--role", "admin")
    assert made.returncode == 0, made.stderr
    [once] = [line.split(": ", 1)[1] for line in made.stdout.splitlines() if "one-time" in line]
    user = _stored(url, "chief")
    assert user.role == "admin"
    assert user.must_change_password
    db = Database(url)
    try:
        _token, logged_in = accounts.login(db, "chief", once, now=datetime.now(UTC))
    finally:
        db.dispose()
    assert logged_in.username == "chief"
    again = _run(url, "add", "chief", "--role", "admin")
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_a_password_from_stdin_must_pass_the_policy_and_is_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    weak = _run(url, "add", "chief", "--role", "admin", "--password-stdin", stdin="password1\n")
    assert weak.returncode == 1
    assert "refused" in weak.stderr
    good = _run(
        url, "add", "chief", "--role", "admin", "--password-stdin", stdin="Brass-otter-lantern-71\n"
    )
    assert good.returncode == 0, good.stderr
    assert "one-time" not in good.stdout
    assert not _stored(url, "chief").must_change_password
    listed = _run(url, "list")
    assert "chief\tadmin" in listed.stdout
