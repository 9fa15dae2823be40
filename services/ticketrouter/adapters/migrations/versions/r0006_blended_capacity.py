"""Blended capacity: `agents.units`, and `agent_channels.cost` and `.exclusive`.

Revision ID: 0006
Revises: 0005
Create Date: 2027-02-03

An agent's units are the total their channels' costs must fit (0: not blended, only
the slots count); a channel row's cost is what one contact there takes of them, and
`exclusive` keeps work on that channel from being held beside any other.

Live PostgreSQL (11 and later): a NOT NULL column with a constant default is a
catalogue change, no table rewrite. Every agent starts unblended, so routing is the
same until a profile sets units. Downgrade drops the three columns; blended agents
are then bound by their slots alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("units", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("agent_channels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cost", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("exclusive", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_channels", schema=None) as batch_op:
        batch_op.drop_column("exclusive")
        batch_op.drop_column("cost")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("units")
