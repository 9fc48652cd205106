"""family links and invitations

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 09:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "family_invitation",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("relation", sa.String(length=40), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_by", sa.String(length=64), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elder.id"],
        ),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    with op.batch_alter_table("family_invitation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_family_invitation_elder_id"), ["elder_id"], unique=False
        )

    op.create_table(
        "family_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("relation", sa.String(length=40), nullable=False),
        sa.Column("linked_by", sa.String(length=64), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elder.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "elder_id", name="one_link_per_elder"),
    )
    with op.batch_alter_table("family_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_family_link_elder_id"), ["elder_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_family_link_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("family_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_link_user_id"))
        batch_op.drop_index(batch_op.f("ix_family_link_elder_id"))

    op.drop_table("family_link")
    with op.batch_alter_table("family_invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_invitation_elder_id"))

    op.drop_table("family_invitation")
