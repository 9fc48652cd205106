"""The only module that creates engines and sessions.

Store calls are synchronous; async callers run them with :meth:`Database.run`, on
the database's own threads, so that shutting down waits for work in flight.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from dispatch.store import (
    migrate,
    tables,  # noqa: F401  (registers the tables on the metadata)
)

P = ParamSpec("P")
BUSY_TIMEOUT_S = 10.0
T = TypeVar("T")


class _WriteGate:
    """Hands SQLite's write lock from one writer to the next without a sleep.

    A writer SQLite turns away sleeps in growing steps (up to 100 ms) before it
    asks again, however soon the lock comes free: with a dozen short writers per
    press (the gateway's helper process, the outbox, the dispatcher, caregivers'
    answers) the lock sat idle while they slept. Writers of this process queue on
    a thread lock, processes on an flock of a file beside the database; either
    wakes the next writer the moment the last one ends.

    Taken at ``BEGIN IMMEDIATE`` and given back when the DB-API connection commits,
    rolls back or closes, by whichever thread that is: a request's session may
    begin in one worker thread and end in another (a lock owned by a thread, or
    one held for a whole session, deadlocked there).
    """

    def __init__(self, database_path: str, timeout_s: float) -> None:
        self._threads = threading.Lock()  # not owned by a thread: any may release it
        self._path = f"{database_path}-writers.lock"
        self._timeout_s = timeout_s
        self._fd: int | None = None
        self._pid = 0

    def enter(self) -> None:
        if not self._threads.acquire(timeout=self._timeout_s):
            # As SQLite's own busy timeout surfaces: callers that retry on
            # OperationalError (the dispatcher, the outbox) retry on this too.
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            )
        try:
            if self._fd is None or self._pid != os.getpid():
                # A forked child opens its own: an inherited descriptor would
                # share the parent's flock instead of queueing behind it.
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def leave(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _GatedConnection(sqlite3.Connection):
    """A DB-API connection that gives the write gate back when its transaction ends."""

    gate: _WriteGate | None = None
    holds_gate = False

    def enter_gate(self) -> None:
        if self.gate is not None and not self.holds_gate:
            self.gate.enter()
            self.holds_gate = True

    def _leave_gate(self) -> None:
        if self.holds_gate:
            self.holds_gate = False
            assert self.gate is not None
            self.gate.leave()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._leave_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._leave_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._leave_gate()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below issue BEGIN itself.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the writer; NORMAL sync is durable across
    # process crashes (not power loss) and ~10x faster than FULL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cur.close()


_READ_ONLY = "carebell_read_only"


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get(_READ_ONLY):
        # A reader takes a WAL snapshot and no lock: it neither waits for the
        # writers nor makes them wait. query_only makes a write in it fail loudly
        # (it would otherwise be lost when the session closes uncommitted).
        conn.exec_driver_sql("PRAGMA query_only = ON")
        conn.exec_driver_sql("BEGIN")
        return
    conn.exec_driver_sql("PRAGMA query_only = OFF")
    dbapi_conn = conn.connection.dbapi_connection
    if isinstance(dbapi_conn, _GatedConnection):
        dbapi_conn.enter_gate()
    # A writer takes the write lock at BEGIN: a deferred transaction that reads,
    # then writes, fails with SQLITE_BUSY_SNAPSHOT when another process wrote in
    # between.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    def __init__(self, url: str, *, workers: int = 8) -> None:
        parsed = make_url(url)
        self.url = url
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")
        self._gate: _WriteGate | None = None
        if parsed.get_backend_name() == "sqlite":
            on_disk = bool(parsed.database) and parsed.database != ":memory:"
            # A connection for every database thread and a few for callers on
            # threads of their own: with the default five, the sixth concurrent
            # session opened a new connection (and its pragmas) and closed it
            # again on return, 124 opens for 400 sessions eight at a time. (An
            # in-memory database keeps one connection per thread anyway.)
            pool = {"pool_size": workers + 2, "max_overflow": 10} if on_disk else {}
            if on_disk:
                Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url,
                **pool,
                connect_args={
                    "check_same_thread": False,
                    "timeout": BUSY_TIMEOUT_S,
                    "factory": _GatedConnection,
                },
            )
            if on_disk:
                self._gate = _WriteGate(str(Path(str(parsed.database)).resolve()), BUSY_TIMEOUT_S)
            gate = self._gate

            def gated(dbapi_conn: Any, _record: Any) -> None:
                if isinstance(dbapi_conn, _GatedConnection):
                    dbapi_conn.gate = gate

            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "connect", gated)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
        # PostgreSQL: a READ ONLY transaction, refusing writes as query_only does.
        read_only = {"postgresql_readonly": True} if self.backend == "postgresql" else {}
        self._reader = self.engine.execution_options(**{_READ_ONLY: True}, **read_only)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        """Create the tables, or bring an older database's to the newest schema."""
        migrate.upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only; it never commits.

        On SQLite it reads a snapshot without the write lock, so log-ins, token
        checks and the board never queue behind the writers (or they behind it).
        Write with :meth:`session`: a write here would fail when another process
        wrote since the snapshot was taken.
        """
        # Closing (not rolling back) ends the transaction and leaves the rows read
        # usable by the caller.
        with Session(self._reader, expire_on_commit=False) as session:
            yield session

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking database work off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def dispose(self) -> None:
        """Wait for work in flight, then close every connection."""
        self._executor.shutdown(wait=True)
        self.engine.dispose()
        if self._gate is not None:
            self._gate.close()
