"""accounts of a provider's staff name their provider

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 10:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            "fk_user_account_provider_id_provider", "provider", ["provider_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint("fk_user_account_provider_id_provider", type_="foreignkey")
        batch_op.drop_column("provider_id")
