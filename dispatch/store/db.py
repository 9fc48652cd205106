"""The only module that creates engines and sessions.

Store calls are synchronous; async callers run them with :meth:`Database.run`, on
the database's own threads, so that shutting down waits for work in flight.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from dispatch.store import (
    migrate,
    tables,  # noqa: F401  (registers the tables on the metadata)
)

P = ParamSpec("P")
T = TypeVar("T")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below issue BEGIN itself.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the writer; NORMAL sync is durable across
    # process crashes (not power loss) and ~10x faster than FULL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
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
    # A writer takes the write lock at BEGIN: a deferred transaction that reads,
    # then writes, fails with SQLITE_BUSY_SNAPSHOT when another process wrote in
    # between.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    def __init__(self, url: str, *, workers: int = 8) -> None:
        parsed = make_url(url)
        self.url = url
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 10}
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
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
