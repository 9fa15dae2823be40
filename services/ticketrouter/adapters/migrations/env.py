"""Alembic's environment: runs on the connection `adapters.schema` hands it, so the
engine's own settings (SQLite's BEGIN IMMEDIATE, PostgreSQL's timeouts) apply."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from ticketrouter.adapters import orm  # noqa: F401  (registers the tables)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite alters most columns by copying the table: batch mode does that for it.
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
