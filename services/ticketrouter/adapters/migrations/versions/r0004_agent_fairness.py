"""The spread of work over agents: `agents.busy_since` and an index on `cases.assigned_at`.

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-26

Live PostgreSQL: a nullable column without a default is a catalogue change (no table
rewrite); the index is built with the cases table locked against writes, seconds on a
few million rows. Agents with work in hand at the upgrade have no `busy_since` until
their next idle moment, so the longest busy stretch reads short until then.
Downgrade drops both; the busy-stretch gauge reads zero and the spread gauges scan
cases instead of a range of the index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("busy_since", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_assigned_at", ["assigned_at", "owner_agent_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_assigned_at")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("busy_since")
