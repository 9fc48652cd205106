"""``carebell users``: the first administrator of a fresh install, from the shell."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from dispatch.registry import accounts, workforce
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


def test_provider_staff_are_made_for_their_provider_named_or_by_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    db = Database(url)
    try:
        db.create_schema()
        provider = workforce.add_provider(
            db, {"name": "东城区居家养老服务中心"}, actor="test", now=datetime.now(UTC)
        )
    finally:
        db.dispose()
    by_name = _run(url, "add", "clerk", "--role", "provider_staff", "--provider", provider.name)
    assert by_name.returncode == 0, by_name.stderr
    assert _stored(url, "clerk").provider_id == provider.id
    by_id = _run(url, "add", "clerk2", "--role", "provider_staff", "--provider", str(provider.id))
    assert by_id.returncode == 0, by_id.stderr
    assert _stored(url, "clerk2").provider_id == provider.id
    unknown = _run(url, "add", "clerk3", "--role", "provider_staff", "--provider", "西城区中心")
    assert unknown.returncode == 1
    assert "西城区中心" in unknown.stderr
    without = _run(url, "add", "clerk4", "--role", "provider_staff")
    assert without.returncode == 1
    assert "refused" in without.stderr
