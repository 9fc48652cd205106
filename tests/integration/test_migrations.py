"""Schema migrations, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, text
from sqlmodel import SQLModel, select

from dispatch.store import migrate, partitions
from dispatch.store.db import Database
from dispatch.store.tables import Elder
from tests.helpers import seed_small_city


def test_the_revisions_build_the_tables_the_code_declares(database_url: str) -> None:
    """Run from an empty database, the revisions leave nothing for a new one to do:
    a change to the tables without its revision fails here."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(migrate.config(connection), "head")
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": _declared_alike(connection.dialect.name)}
        )
        differences = compare_metadata(context, SQLModel.metadata)
        assert migrate.current(connection) == migrate.head()
        if connection.dialect.name == "postgresql":
            assert partitions.is_partitioned(connection)
    engine.dispose()
    assert differences == []


def _declared_alike(dialect: str) -> Callable[[object, str | None, str, bool, object], bool]:
    """What the tables declare the same on both databases. On PostgreSQL
    device_event's day partitions are tables the code does not declare, and its
    idempotence key holds the partition column (dispatch/store/partitions.py);
    test_retention checks both there."""

    def include(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        if dialect != "postgresql":
            return True
        if type_ == "table" and name is not None and name.startswith("device_event_"):
            return False
        table = getattr(obj, "table", None)
        return not (
            type_ == "unique_constraint" and table is not None and table.name == "device_event"
        )

    return include


def test_a_new_database_is_stamped_and_a_second_start_changes_nothing(database_url: str) -> None:
    db = Database(database_url)
    db.create_schema()
    seed_small_city(db)
    db.create_schema()
    with db.engine.connect() as connection:
        assert migrate.current(connection) == migrate.head()
    with db.session() as session:
        assert session.exec(select(func.count()).select_from(Elder)).one() == 1
    db.dispose()


def test_a_database_from_before_migrations_is_adopted_with_its_rows(database_url: str) -> None:
    engine = create_engine(database_url)
    # The tables servers made until 2026-11-30 (revision 0001's), with no version
    # stamp: later revisions' tables are not there yet.
    with engine.begin() as connection:
        command.upgrade(migrate.config(connection), migrate.FIRST)
        connection.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    db = Database(database_url)
    # An elder as that schema held them (the model has grown since: plain SQL).
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO elder (id, name, phone, address, lat, lon, district, street,"
                " community, notes, emergency_contact, access_notes, care_level, regular_visits)"
                " VALUES (:id, '王秀英', '', '和平里3幢', 30.27, 120.15, '东城区', '', '', '',"
                " '', '', 2, :visits)"
            ),
            {"id": uuid.uuid4().hex, "visits": False},
        )
    db.create_schema()
    with db.engine.connect() as connection:
        assert migrate.current(connection) == migrate.head()
        assert "alembic_version" in inspect(connection).get_table_names()
        assert connection.execute(text("SELECT count(*) FROM elder")).scalar_one() == 1
    with db.read() as session:
        [elder] = session.exec(select(Elder)).all()
        assert elder.active  # what later revisions added has its defaults
        assert elder.hardship == []
        assert elder.care_level == 2
    db.dispose()


def test_past_alerts_take_their_elders_street_and_community(database_url: str) -> None:
    """Revision 0014 gives alerts the street and community operators are scoped by:
    past alerts take their elder's, unless the elder has since left the alert's district."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(migrate.config(connection), "0013")
    elder, stayed, moved = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO elder (id, name, phone, phones, id_number, address, lat, lon,"
                " district, street, community, building, unit, room, sex, living_situation,"
                " hardship, economic_status, notes, medicines, allergies, family_doctor,"
                " emergency_contact, access_notes, care_level, regular_visits, active)"
                " VALUES (:id, '王秀英', '', '[]', '', '和平里3幢', 30.27, 120.15, '东城区',"
                " '和平街道', '和平里社区', '', '', '', '', '', '[]', '', '', '', '', '', '',"
                " '', 0, :no, :yes)"
            ),
            {"id": elder.hex, "no": False, "yes": True},
        )
        for alert, district in [(stayed, "东城区"), (moved, "西城区")]:
            connection.execute(
                text(
                    "INSERT INTO alert (id, elder_id, alert_type, severity, state, raised_at,"
                    " deadline_at, device_ts, updated_at, lat, lon, press_count, district)"
                    " VALUES (:id, :elder, 'press', 'high', 'resolved', :at, :at, :at, :at,"
                    " 30.27, 120.15, 1, :district)"
                ),
                {
                    "id": alert.hex,
                    "elder": elder.hex,
                    "at": "2026-11-30 08:00:00",
                    "district": district,
                },
            )
        command.upgrade(migrate.config(connection), "head")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, street, community FROM alert")).all()
    engine.dispose()
    places = {uuid.UUID(str(i)): (s, c) for i, s, c in rows}
    assert places == {stayed: ("和平街道", "和平里社区"), moved: ("", "")}
