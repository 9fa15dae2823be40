"""Shared fixtures: databases (SQLite always; PostgreSQL where it runs)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from ticketrouter.adapters.database import Database, connect

PG_ADMIN_URL = os.environ.get(
    "TICKETROUTER_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def _postgres_or_skip() -> str:
    """A fresh database on the test server; skip politely, or fail in CI."""
    import sqlalchemy

    name = f"ticketrouter_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
    except sqlalchemy.exc.OperationalError as err:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(err).splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI requires it)")
        pytest.skip(message)
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_postgres(url: str) -> None:
    import sqlalchemy

    name = url.rsplit("/", 1)[1]
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path}/ticketrouter.db"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    url = _postgres_or_skip()
    yield url
    _drop_postgres(url)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = connect(database_url)
    db.create_schema()
    yield db
    db.dispose()


@pytest.fixture
def sqlite_database(sqlite_url: str) -> Iterator[Database]:
    db = connect(sqlite_url)
    db.create_schema()
    yield db
    db.dispose()
