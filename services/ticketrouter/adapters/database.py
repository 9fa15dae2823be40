"""Engines for SQLite (embedded default) and PostgreSQL (production), by URL only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import SQLModel

from ticketrouter.adapters import orm  # noqa: F401  (registers the tables)
from ticketrouter.service_layer.ports import ConcurrentUpdate

# SQLite's primary result codes that pass: another connection holds the lock, or the
# file or disk failed for a moment. SQLITE_ERROR (1) is the statement itself: a
# missing table or column, a syntax error; retrying it only hides it.
_SQLITE_ERROR = 1
_SQLITE_TRANSIENT = {5, 6, 10, 13, 14, 15}  # BUSY LOCKED IOERR FULL CANTOPEN PROTOCOL
_SQLITE_UNIQUE = {1555, 2067}  # CONSTRAINT_PRIMARYKEY, CONSTRAINT_UNIQUE
# PostgreSQL SQLSTATEs that pass: connection exceptions (08), serialization
# failures and deadlocks (40), resources (53), shutdown and statement or lock
# timeouts (57, 55P03), system errors (58), an idle-transaction timeout (25P03),
# and a unique key a concurrent transaction inserted first (23505).
_PG_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58")
_PG_TRANSIENT_CODES = {"55P03", "25P03", "23505"}
# Class 42 (syntax error or access rule violation): the schema or the statement.
_PG_STATEMENT_CLASS = "42"


def is_transient(error: BaseException) -> bool:
    """Worth retrying the whole unit of work: the database is down, locked or busy,
    the connection dropped, or a concurrent transaction got there first. Anything
    else (a schema mismatch, a syntax error, a NOT NULL or CHECK violation) fails
    the same way on every retry."""
    if isinstance(error, ConcurrentUpdate):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlite_code = getattr(error.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in _SQLITE_TRANSIENT or sqlite_code in _SQLITE_UNIQUE
    pg_code = getattr(error.orig, "pgcode", None)
    if isinstance(pg_code, str):
        return pg_code.startswith(_PG_TRANSIENT_CLASSES) or pg_code in _PG_TRANSIENT_CODES
    # No code at all: the driver could not reach the server, or lost it.
    return isinstance(error, OperationalError | InterfaceError)


class SchemaMismatch(Exception):
    """The database refuses this version's statements (a missing table or column,
    a statement it cannot parse): not transient, and no event is to blame."""


def schema_problem(error: Exception) -> str | None:
    """What the database says is wrong with the schema or the statement; else None."""
    if not isinstance(error, DBAPIError):
        return None
    message = str(error.orig).splitlines()[0] if error.orig is not None else str(error)
    pg_code = getattr(error.orig, "pgcode", None)
    if isinstance(pg_code, str) and pg_code.startswith(_PG_STATEMENT_CLASS):
        return message
    if getattr(error.orig, "sqlite_errorcode", None) == _SQLITE_ERROR:
        return message
    return None


@dataclass(frozen=True)
class Database:
    """`writer` takes write locks up front; `reader` serves read-only requests."""

    url: str
    writer: Engine
    reader: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def create_schema(self) -> None:
        SQLModel.metadata.create_all(self.writer)

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def connect(
    url: str, lock_timeout_ms: int = 10_000, statement_timeout_ms: int = 20_000
) -> Database:
    """A lock wait longer than `lock_timeout_ms` (and on PostgreSQL a statement longer
    than `statement_timeout_ms`) fails as a transient error, for the caller's back-off."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Database(
            url,
            _sqlite_engine(url, "BEGIN IMMEDIATE", lock_timeout_ms),
            _sqlite_engine(url, "BEGIN", lock_timeout_ms),
        )
    options = f"-c lock_timeout={lock_timeout_ms} -c statement_timeout={statement_timeout_ms}"
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        connect_args={"options": options},
    )
    return Database(url, engine, engine)


def _sqlite_engine(url: str, begin: str, busy_timeout_ms: int) -> Engine:
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so BEGIN IMMEDIATE can be used:
        # a writer that takes its lock up front never deadlocks on a lock upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine
