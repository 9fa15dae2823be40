"""Resolutions mature: `resolutions.matured_at` and the index that finds those due.

Revision ID: 0002
Revises: 0001
Create Date: 2027-01-12

Live PostgreSQL: a nullable column without a default is a catalogue change (no table
rewrite); the index is built with the table locked against writes, which on a
resolutions table of a few million rows takes seconds. Rows from before this revision
start unmatured: the housekeeping tick matures those whose FCR window has closed, a
bounded batch a second, oldest first (see the RUNBOOK on the catch-up).
Downgrade drops the column and its index; the counters it fed stop.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("resolutions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("matured_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_resolutions_maturing", ["matured_at", "resolved_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("resolutions", schema=None) as batch_op:
        batch_op.drop_index("ix_resolutions_maturing")
        batch_op.drop_column("matured_at")
