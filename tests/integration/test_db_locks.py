"""Who holds SQLite's single write lock, and for what.

Readers (log-ins, token checks, health, the dispatcher's snapshot) must not take
it, and nothing slow (a password hash) may run while it is held: every press,
offer and caregiver answer queues on that one lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dispatch.domain.access import Role
from dispatch.registry import accounts
from dispatch.store.db import Database


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/carebell.db")
    database.create_schema()
    yield database
    database.dispose()


def write_lock_is_free(db: Database) -> bool:
    """Try to take the write lock from another connection, without waiting."""
    path = db.engine.url.database
    assert path is not None
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def test_a_reader_does_not_wait_for_a_writer_holding_the_lock(db: Database) -> None:
    writing, done = threading.Event(), threading.Event()

    def writer() -> None:
        with db.session() as session:
            session.exec(text("UPDATE device SET online = online"))  # type: ignore[call-overload]
            writing.set()
            done.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(30)
        # Were the read queued behind the writer, it would wait for the busy
        # timeout and fail with "database is locked" (the writer holds on).
        with db.read() as session:
            assert session.exec(text("SELECT count(*) FROM alert")).one() == (0,)  # type: ignore[call-overload]
    finally:
        done.set()
        thread.join()


def test_a_reader_leaves_the_write_lock_free(sqlite_db: Database) -> None:
    with sqlite_db.read() as session:
        session.exec(text("SELECT count(*) FROM alert")).one()  # type: ignore[call-overload]
        assert write_lock_is_free(sqlite_db)


def test_a_login_hashes_the_password_outside_any_transaction(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts.create_user(sqlite_db, "op", "a long passphrase", Role.OPERATOR, areas=["东城区"])
    lock_free_while_hashing: list[bool] = []
    verify = accounts._hasher.verify

    def observed_verify(password: str, stored: str) -> bool:
        lock_free_while_hashing.append(write_lock_is_free(sqlite_db))
        return verify(password, stored)

    monkeypatch.setattr(accounts._hasher, "verify", observed_verify)
    token, user = accounts.login(sqlite_db, "op", "a long passphrase", now=datetime.now(UTC))
    assert lock_free_while_hashing == [True]
    found = accounts.user_for_token(sqlite_db, token, now=datetime.now(UTC))
    assert found is not None
    assert (found.id, found.username) == (user.id, "op")


def test_a_write_in_a_read_session_fails_rather_than_being_lost(db: Database) -> None:
    with db.read() as session, pytest.raises(DBAPIError, match=r"(?i)read.?only"):
        session.exec(text("UPDATE device SET online = online"))  # type: ignore[call-overload]
