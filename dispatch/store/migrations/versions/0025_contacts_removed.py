"""contacts taken off an elder's list after being sent something are kept, marked removed

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 15:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("elder_contact") as table:
        table.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("elder_contact") as table:
        table.drop_column("removed_at")
