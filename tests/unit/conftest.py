"""The in-memory unit of work and the clock the handler tests drive by hand."""

from __future__ import annotations

import pytest

from tests.fakes import FakeClock, FakeRepository, FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(FakeRepository())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
