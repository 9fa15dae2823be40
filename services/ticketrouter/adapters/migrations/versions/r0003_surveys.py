"""CSAT answers: `surveys`, one row per answer counted, for the CSAT report.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-20

Live PostgreSQL: a new table, no lock on existing ones. Surveys answered before this
revision are not counted again: the CSAT figures start from zero, as the counters
do. Downgrade drops the table; the report's CSAT figures read zero from then on.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("handoffs", sa.Integer(), nullable=False),
        sa.Column("first_contact", sa.Boolean(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_surveys_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_surveys_counted_at"), ["counted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_surveys_replaced_at"), ["replaced_at"], unique=False)


def downgrade() -> None:
    op.drop_table("surveys")
