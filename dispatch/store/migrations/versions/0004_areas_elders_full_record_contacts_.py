"""areas, elders' full record, contacts, change and access logs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:53:43.298684
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Elders already registered get empty new fields and stay active (server defaults).
    op.create_table(
        "area",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_key", sa.String(length=200), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("area", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_area_parent_key"), ["parent_key"], unique=False)

    op.create_table(
        "registry_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("registry_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_change_entity_id"), ["entity_id"], unique=False
        )

    op.create_table(
        "elder_contact",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("relation", sa.String(), nullable=False),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("hours", sa.String(), nullable=False),
        sa.Column("key_holder", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elder.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("elder_contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_elder_contact_elder_id"), ["elder_id"], unique=False)

    op.create_table(
        "record_access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elder.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("record_access", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_access_elder_id"), ["elder_id"], unique=False)

    with op.batch_alter_table("elder", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("phones", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("id_number", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("sex", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("building", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("unit", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("room", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("living_situation", sa.String(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("hardship", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(
            sa.Column("economic_status", sa.String(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("medicines", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("allergies", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("family_doctor", sa.String(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deactivation_reason", sa.String(), nullable=True))
        batch_op.create_index(batch_op.f("ix_elder_external_id"), ["external_id"], unique=True)

    # ### end Alembic commands ###


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("elder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_elder_external_id"))
        batch_op.drop_column("deactivation_reason")
        batch_op.drop_column("deactivated_at")
        batch_op.drop_column("active")
        batch_op.drop_column("family_doctor")
        batch_op.drop_column("allergies")
        batch_op.drop_column("medicines")
        batch_op.drop_column("economic_status")
        batch_op.drop_column("hardship")
        batch_op.drop_column("living_situation")
        batch_op.drop_column("room")
        batch_op.drop_column("unit")
        batch_op.drop_column("building")
        batch_op.drop_column("sex")
        batch_op.drop_column("birth_date")
        batch_op.drop_column("id_number")
        batch_op.drop_column("phones")
        batch_op.drop_column("external_id")

    with op.batch_alter_table("record_access", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_access_elder_id"))

    op.drop_table("record_access")
    with op.batch_alter_table("elder_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_elder_contact_elder_id"))

    op.drop_table("elder_contact")
    with op.batch_alter_table("registry_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_change_entity_id"))

    op.drop_table("registry_change")
    with op.batch_alter_table("area", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_area_parent_key"))

    op.drop_table("area")
    # ### end Alembic commands ###
