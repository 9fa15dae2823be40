"""Engines for SQLite (embedded default) and PostgreSQL (production), by URL only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlmodel import SQLModel

from ticketrouter.adapters import orm  # noqa: F401  (registers the tables)
from ticketrouter.service_layer.ports import ConcurrentUpdate

# Failures that pass: the database is down or locked, the connection dropped, or a
# concurrent transaction got there first. The whole unit of work is retried.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    IntegrityError,
    ConcurrentUpdate,
)


# A database whose tables do not match this version's models fails the same way
# on every retry: retrying it forever would only hide it. SQLite reports these as
# OperationalError; PostgreSQL as ProgrammingError with an SQLSTATE of class 42.
_SQLITE_SCHEMA_ERRORS = ("no such table", "no such column", "has no column named")


class SchemaMismatch(Exception):
    """The database's schema is not the one this version expects: not transient."""


def schema_problem(error: Exception) -> str | None:
    """What is missing or wrong in the schema, when `error` says so; else None."""
    if not isinstance(error, DBAPIError):
        return None
    message = str(error.orig).splitlines()[0] if error.orig is not None else str(error)
    code = getattr(error.orig, "pgcode", None)
    if isinstance(error, ProgrammingError) and isinstance(code, str) and code.startswith("42"):
        return message
    if isinstance(error, OperationalError) and any(p in message for p in _SQLITE_SCHEMA_ERRORS):
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


def connect(url: str) -> Database:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Database(url, _sqlite_engine(url, "BEGIN IMMEDIATE"), _sqlite_engine(url, "BEGIN"))
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    return Database(url, engine, engine)


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so BEGIN IMMEDIATE can be used:
        # a writer that takes its lock up front never deadlocks on a lock upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine
