"""The demo names people, not hashes, also for customers it did not send this run
(cases picked up after a restart): their names come from the router itself."""

from __future__ import annotations

import grpc
import pytest

from tests.builders import event_proto
from tests.e2e.conftest import Service
from ticketrouter.entrypoints.demo.console import Directory, event_lines
from ticketrouter.entrypoints.demo.stubs import customer_name, customer_stub
from ticketrouter.v1 import customers_pb2, routing_pb2

pytestmark = pytest.mark.e2e


def test_a_customer_from_an_earlier_run_is_named_by_the_router(service: Service) -> None:
    service.add_agent("gen", {"general": 1})
    event = event_proto("earlier-1", "ana@example.com")
    event.display_name = "Ana López"
    decision = service.routing.SubmitContact(routing_pb2.SubmitContactRequest(event=event))
    customer_id = decision.decision.customer_id

    directory = Directory(lookup=customer_name(customer_stub(service.channel)))  # a new run

    assert directory.who(customer_id) == "Ana López"
    assert directory.who("f" * 32) == "customer", "unknown: no name, no error"


def test_a_name_is_looked_up_once_per_customer() -> None:
    calls: list[str] = []

    def lookup(customer_id: str) -> str | None:
        calls.append(customer_id)
        return None

    directory = Directory(lookup=lookup)
    assert [directory.who("abcdef0123") for _ in range(3)] == ["customer"] * 3
    assert calls == ["abcdef0123"]


def test_the_short_ids_on_screen_find_the_case_and_the_customer(service: Service) -> None:
    service.add_agent("gen", {"general": 1})
    submitted = service.routing.SubmitContact(
        routing_pb2.SubmitContactRequest(event=event_proto("short-1", "bo@example.com"))
    )
    decision = submitted.decision
    shown = event_lines(
        decision.channel,
        "Bo",
        decision.topic,
        "assigned",
        "-> gen",
        decision.case_id,
        decision.customer_id,
        decision.explanation.summary,
        width=80,
    )
    _, second = shown.splitlines()
    case_prefix = second.split("case ", 1)[1].split()[0]
    customer_prefix = second.split("customer ", 1)[1].split()[0]
    assert len(case_prefix) == len(customer_prefix) == 8

    case = service.routing.GetCase(routing_pb2.GetCaseRequest(case_id=case_prefix))
    customer = service.customers.GetCustomer(
        customers_pb2.GetCustomerRequest(customer_id=customer_prefix)
    )
    assert (case.case_id, customer.customer_id) == (decision.case_id, decision.customer_id)
    with pytest.raises(grpc.RpcError) as unknown:
        service.routing.GetCase(routing_pb2.GetCaseRequest(case_id="0" * 8))
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
