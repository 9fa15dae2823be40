"""Hot lookups must use an index, or routing slows down as the tables grow."""

from __future__ import annotations

from sqlalchemy import Engine

from ticketrouter.adapters import queries
from ticketrouter.adapters.database import Database


def _plan(engine: Engine, statement: object) -> str:
    compiled = statement.compile(  # type: ignore[attr-defined]
        dialect=engine.dialect, compile_kwargs={"literal_binds": True}
    )
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
    return " | ".join(str(row[-1]) for row in rows)


def test_identity_lookup_uses_the_primary_key(sqlite_database: Database) -> None:
    keys = [("email", "ana@example.com"), ("phone", "+14155550100")]
    plan = _plan(sqlite_database.writer, queries.owners_of(keys))
    assert "SCAN identities" not in plan, plan
    assert "identities USING" in plan, plan


def test_open_cases_of_a_batch_of_customers_use_the_customer_index(
    sqlite_database: Database,
) -> None:
    plan = _plan(sqlite_database.writer, queries.open_cases_of(["c1", "c2"]))
    assert "SCAN cases" not in plan, plan


def test_the_assignments_of_the_fairness_window_use_the_assigned_at_index(
    sqlite_database: Database,
) -> None:
    from datetime import UTC, datetime

    from ticketrouter.adapters.fairness_reader import ASSIGNED_SINCE

    statement = ASSIGNED_SINCE.params(since=datetime(2027, 1, 26, tzinfo=UTC))
    plan = _plan(sqlite_database.writer, statement)
    assert "ix_cases_assigned_at" in plan, plan
