"""alerts' street and community, for operators scoped below a district

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 09:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("street", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("community", sa.String(), nullable=False, server_default=""))
    # Past alerts take their elder's street and community, where the elder still lives
    # in the district the alert was raised in (one who moved keeps the district only).
    op.execute(
        """
        UPDATE alert SET
            street = (SELECT elder.street FROM elder WHERE elder.id = alert.elder_id),
            community = (
                SELECT CASE WHEN elder.street <> '' THEN elder.community ELSE '' END
                FROM elder WHERE elder.id = alert.elder_id
            )
        WHERE EXISTS (
            SELECT 1 FROM elder
            WHERE elder.id = alert.elder_id AND elder.district = alert.district
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("community")
        batch_op.drop_column("street")
