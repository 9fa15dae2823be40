"""Contract fixtures: the same repository tests run against the in-memory fake,
SQLite and PostgreSQL, so the fake stays honest."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fakes import FakeRepository, FakeUnitOfWork
from ticketrouter.adapters.codec import encode_decision
from ticketrouter.adapters.database import Database
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.domain.context import ContextLimits
from ticketrouter.service_layer.ports import UnitOfWork

UowFactory = Callable[[], UnitOfWork]


@pytest.fixture(params=["fake", "sqlite", "postgres"])
def uow_factory(request: pytest.FixtureRequest) -> UowFactory:
    if request.param == "fake":
        repo = FakeRepository()
        return lambda: FakeUnitOfWork(repo)
    db: Database = request.getfixturevalue("database_for_contract")(request.param)
    return lambda: SqlUnitOfWork(db.writer, encode_decision, context_limits=ContextLimits())


@pytest.fixture
def database_for_contract(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    from ticketrouter.adapters.database import connect

    opened: list[Database] = []

    def make(kind: str) -> Database:
        url = request.getfixturevalue("sqlite_url" if kind == "sqlite" else "postgres_url")
        db = connect(url)
        db.create_schema()
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.dispose()
