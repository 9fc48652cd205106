"""caregivers' answers kept with their actions

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 10:04:34.731203
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_reply",
        sa.Column("caregiver_id", sa.Uuid(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("reply", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["caregiver_id"],
            ["caregiver.id"],
        ),
        sa.PrimaryKeyConstraint("caregiver_id", "ref"),
    )
    with op.batch_alter_table("action_reply", schema=None) as batch_op:
        batch_op.create_index("ix_action_reply_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("action_reply", schema=None) as batch_op:
        batch_op.drop_index("ix_action_reply_created_at")

    op.drop_table("action_reply")
