"""The contact lifecycle: which contacts of a case are live, the wrap-up that holds an
owner's slot after the last one ended, and when a case was abandoned.

Revision ID: 0005
Revises: 0004
Create Date: 2027-02-02

`cases.live_contacts` lists the contacts not yet ended or abandoned, `cases.
slot_held_until` is when a wrap-up frees its slot (found by `ix_cases_wrap_up`, as
offers that lapse are), `cases.abandoned_at` dates an abandonment for the report
(`ix_cases_abandoned_at`). The new statuses `pending` and `abandoned` fit the
existing column.

Live PostgreSQL: nullable columns without defaults are catalogue changes; the indexes
are built with the cases table locked against writes (seconds on a few million rows).
Cases open at the upgrade had no record of their live contacts: each gets its latest
contact (the one its agent's slot serves, as a follow-up moves the slot), in one pass
over the open cases' contacts, so a contact.ended for it frees the slot.
Downgrade drops the columns and indexes; run it only once no case is pending or
abandoned (the older version reads neither status).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_OPEN = ("queued", "offered", "assigned")


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("live_contacts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("slot_held_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_cases_wrap_up", ["status", "slot_held_until"], unique=False)
        batch_op.create_index("ix_cases_abandoned_at", ["abandoned_at"], unique=False)
    _record_latest_contacts()


def _record_latest_contacts() -> None:
    cases = sa.table(
        "cases", sa.column("id"), sa.column("status"), sa.column("live_contacts", sa.JSON())
    )
    contacts = sa.table(
        "contacts",
        sa.column("event_id"),
        sa.column("case_id"),
        sa.column("channel"),
        sa.column("occurred_at"),
        sa.column("outcome"),
    )
    rows = op.get_bind().execute(
        sa.select(contacts.c.case_id, contacts.c.event_id, contacts.c.channel)
        .join(cases, cases.c.id == contacts.c.case_id)
        .where(cases.c.status.in_(_OPEN), contacts.c.outcome != "message")
        .order_by(contacts.c.case_id, contacts.c.occurred_at)
    )
    latest: dict[str, list[list[str]]] = {}
    for case_id, event_id, channel in rows:
        latest[case_id] = [[event_id, channel]]
    if latest:
        op.get_bind().execute(
            cases.update()
            .where(cases.c.id == sa.bindparam("b_id"))
            .values(live_contacts=sa.bindparam("b_live", type_=sa.JSON())),
            [{"b_id": case_id, "b_live": live} for case_id, live in latest.items()],
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_abandoned_at")
        batch_op.drop_index("ix_cases_wrap_up")
        batch_op.drop_column("abandoned_at")
        batch_op.drop_column("slot_held_until")
        batch_op.drop_column("live_contacts")
