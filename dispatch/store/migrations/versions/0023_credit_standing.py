"""caregivers' credit standing per month (bonus and dispatch hold)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_standing",
        sa.Column("caregiver_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("standing", sa.String(length=16), nullable=False),
        sa.Column("bonus_s", sa.Float(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("applied_by", sa.String(length=64), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_by", sa.String(length=64), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clear_note", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["caregiver_id"], ["caregiver.id"]),
        sa.PrimaryKeyConstraint("caregiver_id", "month"),
    )


def downgrade() -> None:
    op.drop_table("credit_standing")
