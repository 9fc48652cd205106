"""indexes for the reports: alerts by raising time, arrival and closing lookups

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 09:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_raised_at", ["raised_at"], unique=False)
    with op.batch_alter_table("audit_record", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_record_alert_step", ["alert_id", "entity", "to_state", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_record", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_record_alert_step")

    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_raised_at")
