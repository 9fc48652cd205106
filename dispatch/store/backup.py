"""Backups of the record, and restoring one into a fresh database.

SQLite: the online backup API copies a consistent snapshot page by page while
the server keeps writing (readers and writers wait only for the page being
copied). PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot of one
transaction, without stopping anyone) and ``pg_restore`` into an empty
database; both programs must be on PATH (Debian: postgresql-client). For
point-in-time recovery in production, PostgreSQL's base backups with WAL
archiving are the tool (docs/operations.md, "Backups").
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says why."""


def backup(database_url: str, target: Path) -> Path:
    """Write a backup of ``database_url`` to ``target`` (refused if it exists)."""
    if target.exists():
        raise BackupError(f"{target} exists; a backup never overwrites a file")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        source = _sqlite_file(database_url)
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst, pages=1024)  # a batch at a time: writers get their turns
        src.close()
        dst.close()
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", _libpq(url)])
    return target


def restore(source: Path, database_url: str) -> None:
    """Restore the backup ``source`` into ``database_url``, which must be empty."""
    if not source.is_file():
        raise BackupError(f"{source} is not a backup file")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        target = _sqlite_file(database_url)
        if target.exists() and target.stat().st_size > 0:
            raise BackupError(f"{target} exists; restore into a fresh database")
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close()
        dst.close()
    else:
        _run(
            ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(url)}", str(source)]
        )


def _sqlite_file(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(database)


def _libpq(url: URL) -> str:
    """The URL as libpq's programs take it (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        raise BackupError(f"{argv[0]} is not installed (Debian: apt-get install postgresql-client)")
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {done.stderr.strip()[-2000:]}")
