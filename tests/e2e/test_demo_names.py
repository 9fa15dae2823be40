"""The demo names people, not hashes, also for customers it did not send this run
(cases picked up after a restart): their names come from the router itself."""

from __future__ import annotations

import pytest

from tests.builders import event_proto
from tests.e2e.conftest import Service
from ticketrouter.entrypoints.demo.console import Directory
from ticketrouter.entrypoints.demo.stubs import customer_name, customer_stub
from ticketrouter.v1 import routing_pb2

pytestmark = pytest.mark.e2e


def test_a_customer_from_an_earlier_run_is_named_by_the_router(service: Service) -> None:
    service.add_agent("gen", {"general": 1})
    event = event_proto("earlier-1", "ana@example.com")
    event.display_name = "Ana López"
    decision = service.routing.SubmitContact(routing_pb2.SubmitContactRequest(event=event))
    customer_id = decision.decision.customer_id

    directory = Directory(lookup=customer_name(customer_stub(service.channel)))  # a new run

    assert directory.who(customer_id) == f"Ana López ({customer_id[:6]})"
    assert directory.who("f" * 32) == "customer (ffffff)", "unknown: no name, no error"


def test_a_name_is_looked_up_once_per_customer() -> None:
    calls: list[str] = []

    def lookup(customer_id: str) -> str | None:
        calls.append(customer_id)
        return None

    directory = Directory(lookup=lookup)
    assert [directory.who("abcdef0123") for _ in range(3)] == ["customer (abcdef)"] * 3
    assert calls == ["abcdef0123"]
