"""Which database failures are worth a retry, judged on real errors from SQLite and
PostgreSQL: a lock or statement timeout, a lost connection and a concurrent insert
pass; a missing column, a syntax error or a NOT NULL violation fail the same way on
every retry and must not be retried forever."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from ticketrouter.adapters.database import Database, connect, is_transient, schema_problem

LOCK_TIMEOUT_MS = 200
STATEMENT_TIMEOUT_MS = 300


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = connect(database_url, LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS)
    with database.writer.begin() as connection:
        connection.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
        connection.execute(text("INSERT INTO probe VALUES (1, 'one')"))
    yield database
    database.dispose()


def failure(engine: Engine, statement: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as raised, engine.begin() as connection:
        connection.execute(text(statement))
    return raised.value


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        ("SELECT missing FROM probe", "missing"),
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("SELEC 1", "SELEC"),
    ],
)
def test_the_statement_or_schema_is_wrong_not_transient(
    db: Database, statement: str, says: str
) -> None:
    error = failure(db.writer, statement)
    assert not is_transient(error)
    problem = schema_problem(error)
    assert problem is not None and says in problem


def test_a_not_null_violation_is_not_transient_nor_the_schema(db: Database) -> None:
    error = failure(db.writer, "INSERT INTO probe (id, name) VALUES (2, NULL)")
    assert not is_transient(error)
    assert schema_problem(error) is None


def test_a_duplicate_key_is_a_concurrent_insert_and_passes(db: Database) -> None:
    error = failure(db.writer, "INSERT INTO probe VALUES (1, 'again')")
    assert is_transient(error)
    assert schema_problem(error) is None


def test_a_lock_held_longer_than_the_lock_timeout_fails_as_transient(db: Database) -> None:
    holder = connect(db.url)  # default timeouts: it holds, the other waits
    try:
        with holder.writer.connect() as held:
            # An open write: PostgreSQL's row lock, SQLite's one writer.
            held.exec_driver_sql("UPDATE probe SET name = 'held' WHERE id = 1")
            error = failure(db.writer, "UPDATE probe SET name = 'uno' WHERE id = 1")
            held.rollback()
    finally:
        holder.dispose()
    assert is_transient(error), error
    assert schema_problem(error) is None


def test_the_lock_timeout_is_set_on_every_connection(db: Database) -> None:
    with db.writer.connect() as connection:
        if db.is_sqlite:
            value = connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
            assert int(value) == LOCK_TIMEOUT_MS
        else:
            lock = connection.exec_driver_sql("SHOW lock_timeout").scalar_one()
            statement = connection.exec_driver_sql("SHOW statement_timeout").scalar_one()
            assert (lock, statement) == (f"{LOCK_TIMEOUT_MS}ms", f"{STATEMENT_TIMEOUT_MS}ms")


def test_a_statement_over_the_timeout_fails_as_transient(postgres_url: str) -> None:
    db = connect(postgres_url, LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS)
    try:
        error = failure(db.writer, "SELECT pg_sleep(5)")
    finally:
        db.dispose()
    assert is_transient(error)
    assert "statement timeout" in str(error)


def test_a_server_that_does_not_answer_is_transient() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused.
    db = connect("postgresql+psycopg2://postgres@127.0.0.1:1/test?connect_timeout=2")
    try:
        with pytest.raises(DBAPIError) as raised, db.writer.connect():
            pass
    finally:
        db.dispose()
    assert is_transient(raised.value)


def test_anything_not_from_the_database_is_not_transient() -> None:
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(threading.BrokenBarrierError())
