"""Contract fixtures: the same repository tests run against the in-memory fake,
SQLite and PostgreSQL, so the fake stays honest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.builders import RULES_FILE
from tests.fakes import FakeRepository, FakeUnitOfWork
from ticketrouter.adapters.codec import encode_decision
from ticketrouter.adapters.database import Database
from ticketrouter.adapters.memory_repository import InMemoryRepository
from ticketrouter.adapters.memory_unit_of_work import InMemoryUnitOfWork
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings
from ticketrouter.domain.context import ContextLimits
from ticketrouter.service_layer.ports import UnitOfWork

UowFactory = Callable[[], UnitOfWork]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """The whole application on a SQLite file of its own, with its own registry."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite", rules_file=RULES_FILE)
    application = bootstrap(settings)
    yield application
    application.close()


@pytest.fixture(params=["fake", "memory", "sqlite", "postgres"])
def uow_factory(request: pytest.FixtureRequest) -> UowFactory:
    if request.param == "fake":
        repo = FakeRepository()
        return lambda: FakeUnitOfWork(repo)
    if request.param == "memory":
        memory = InMemoryRepository()
        return lambda: InMemoryUnitOfWork(memory, ContextLimits())
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
