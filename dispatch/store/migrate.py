"""Schema migrations with Alembic: the tables' history is in dispatch/store/migrations.

A new database gets the tables as the code declares them and is stamped with the
newest revision; a stamped one is migrated to it; one that holds CareBell's
tables but no revision (made before migrations existed) is taken to be at the
first revision and migrated from there. Every server and command does this at
start-up (Database.create_schema), one process at a time on PostgreSQL.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlmodel import SQLModel

from dispatch.store import partitions

SCRIPTS = "dispatch.store:migrations"
FIRST = "0001"  # the schema of 2026-11-30, when migrations began
_LOCK_KEY = 0x43415245  # "CARE": PostgreSQL advisory lock held while migrating


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPTS)
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None, "dispatch/store/migrations holds no revision"
    return revision


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (see the module's docstring)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # another process may be at it
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        revision = current(connection)
        if revision is None:
            if "alert" in inspect(connection).get_table_names():
                command.stamp(config(connection), FIRST)
            else:
                SQLModel.metadata.create_all(connection)
                partitions.convert(connection, datetime.now(UTC).date())  # PostgreSQL only
                command.stamp(config(connection), "head")
                return
        command.upgrade(config(connection), "head")


def new_revision(message: str, rev_id: str | None = None) -> None:
    """Write the revision that takes the newest revision's schema to what the tables
    declare (for developers: review it, then commit it with the change)."""
    engine = create_engine("sqlite://")  # a scratch database, built from the revisions
    with engine.begin() as connection:
        command.upgrade(config(connection), "head")
        command.revision(config(connection), message=message, autogenerate=True, rev_id=rev_id)


if __name__ == "__main__":
    new_revision(*sys.argv[1:3])
