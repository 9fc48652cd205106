"""Who holds SQLite's single write lock, and for what.

Readers (log-ins, token checks, health, the dispatcher's snapshot) must not take
it, and nothing slow (a password hash) may run while it is held: every press,
offer and caregiver answer queues on that one lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError

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


# -- the writers' queue (SQLite): taken at BEGIN, given back when the transaction ends


def writers_queue_is_free(db: Database) -> bool:
    """Whether another writer of this process would get in at once."""
    gate = db._gate
    assert gate is not None
    if not gate._threads.acquire(blocking=False):
        return False
    gate._threads.release()
    return True


def test_a_transaction_ended_by_another_thread_frees_the_writers_queue(
    sqlite_db: Database,
) -> None:
    # A request's session may begin in one worker thread and end in another.
    session_cm = sqlite_db.session()
    session = session_cm.__enter__()
    session.exec(text("UPDATE device SET online = online"))  # type: ignore[call-overload]
    assert not writers_queue_is_free(sqlite_db)
    ended = threading.Thread(target=session_cm.__exit__, args=(None, None, None))
    ended.start()
    ended.join()
    assert writers_queue_is_free(sqlite_db)
    assert write_lock_is_free(sqlite_db)
    with sqlite_db.session() as session:  # the next writer gets in
        session.exec(text("UPDATE device SET online = online"))  # type: ignore[call-overload]


def test_a_failed_transaction_frees_the_writers_queue(sqlite_db: Database) -> None:
    def fail_mid_transaction() -> None:
        with sqlite_db.session() as session:
            session.exec(text("UPDATE device SET online = online"))  # type: ignore[call-overload]
            raise RuntimeError("the caller failed mid-transaction")

    with pytest.raises(RuntimeError):
        fail_mid_transaction()
    assert writers_queue_is_free(sqlite_db)
    assert write_lock_is_free(sqlite_db)


def test_a_reader_does_not_take_the_writers_queue(sqlite_db: Database) -> None:
    with sqlite_db.read() as session:
        session.exec(text("SELECT count(*) FROM alert")).one()  # type: ignore[call-overload]
        assert writers_queue_is_free(sqlite_db)


def test_writers_of_two_processes_take_turns(sqlite_db: Database, tmp_path: Path) -> None:
    # Another process (the gateway's helper) holds a write transaction: this
    # process's writer waits in the queue and gets in once it commits.
    path = sqlite_db.engine.url.database
    script = (
        "import sys, time\n"
        "from sqlalchemy import text\n"
        "from dispatch.store.db import Database\n"
        f"db = Database('sqlite:///{path}')\n"
        "with db.session() as s:\n"
        "    s.exec(text('UPDATE device SET online = online'))\n"
        "    print('holding', flush=True)\n"
        "    sys.stdin.readline()\n"
        "db.dispose()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as other:
        assert other.stdout is not None
        assert other.stdin is not None
        try:
            assert other.stdout.readline().strip() == "holding"
            got_in = threading.Event()

            def write() -> None:
                with sqlite_db.session() as session:
                    session.exec(text("UPDATE device SET online = online"))  # type: ignore[call-overload]
                    got_in.set()

            writer = threading.Thread(target=write)
            writer.start()
            assert not got_in.wait(0.5)  # queued behind the other process
            other.stdin.write("\n")
            other.stdin.flush()
            writer.join(30)
            assert got_in.is_set()
        finally:
            other.kill()


def test_a_writer_kept_out_too_long_fails_as_a_busy_database_does(sqlite_db: Database) -> None:
    # Callers retry on SQLAlchemy's OperationalError (the dispatcher's round, the
    # outbox's sweep): the queue's time-out must be that error, not sqlite3's own.
    gate = sqlite_db._gate
    assert gate is not None
    gate._timeout_s = 0.2
    writing, done = threading.Event(), threading.Event()

    def writer() -> None:
        with sqlite_db.session() as session:
            session.exec(text("UPDATE device SET online = online"))  # type: ignore[call-overload]
            writing.set()
            done.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(30)
        with (
            pytest.raises(OperationalError, match="database is locked"),
            sqlite_db.session() as session,
        ):
            session.exec(text("UPDATE device SET online = online"))  # type: ignore[call-overload]
    finally:
        done.set()
        thread.join()
    assert writers_queue_is_free(sqlite_db)


def test_the_database_threads_keep_their_connections_open(db: Database) -> None:
    """Every database thread busy at once reuses pooled connections: the pool
    used to keep five, so the rest were opened (with their pragmas) and closed
    again on every session."""
    opened = 0

    def count(*_: object) -> None:
        nonlocal opened
        opened += 1

    event.listen(db.engine, "connect", count)
    all_busy = threading.Barrier(8)

    def session() -> None:
        with db.read() as s:
            s.exec(text("SELECT 1"))  # type: ignore[call-overload]
            all_busy.wait(10)

    async def rounds() -> None:
        for _ in range(20):
            await asyncio.gather(*(db.run(session) for _ in range(8)))

    asyncio.run(rounds())
    event.remove(db.engine, "connect", count)
    assert opened <= 8  # one per thread at most, the first time; 20 rounds reuse them
