"""device events by day: event_day, and on PostgreSQL a table partitioned by it

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from dispatch.store import partitions

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # Rows are copied into day partitions (the day computed as the code does):
        # on a large table this takes a while; the server waits for it.
        partitions.convert(connection, datetime.now(UTC).date())
        return
    with op.batch_alter_table("device_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_day", sa.Date(), nullable=True))
    op.execute("UPDATE device_event SET event_day = date(received_at)")
    with op.batch_alter_table("device_event", schema=None) as batch_op:
        batch_op.alter_column("event_day", existing_type=sa.Date(), nullable=False)
        batch_op.create_index(
            "ix_device_event_alert",
            ["alert_id"],
            unique=False,
            sqlite_where=sa.text("alert_id IS NOT NULL"),
        )


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        raise NotImplementedError("restore the backup taken before 0020 to go back")
    with op.batch_alter_table("device_event", schema=None) as batch_op:
        batch_op.drop_index("ix_device_event_alert")
        batch_op.drop_column("event_day")
