"""Fault-test fixtures: a broker of the test's own behind a front that can cut it off."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.faults.front import BrokerFront
from ticketrouter.adapters.broker import EmbeddedBroker, free_port


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end, with a real broker and real processes")


@dataclass
class FrontedBroker:
    broker: EmbeddedBroker
    front: BrokerFront

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap


@pytest.fixture
def fronted_broker(tmp_path: Path) -> Iterator[FrontedBroker]:
    """A broker only reachable through a front: cutting the front is a broker outage."""
    inner = free_port()
    outer = free_port()
    while outer == inner:
        outer = free_port()
    with (
        BrokerFront(outer, inner) as front,
        EmbeddedBroker(inner, tmp_path / "tansu.log", advertised_port=outer) as broker,
    ):
        yield FrontedBroker(broker, front)
