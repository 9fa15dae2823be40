"""The contact lifecycle over the real broker and real gRPC: an abandoned queued call
is never offered to anyone, an ended call frees the agent's voice slot while the
case stays theirs, and a follow-up returns to them."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from tests.builders import event_json
from tests.e2e.conftest import Service
from ticketrouter.v1 import agents_pb2, customers_pb2, events_pb2, routing_pb2

ANA = ("phone", "+1 415 555 0100")
BEN = ("phone", "+1 415 555 0199")
VOICE = {"voice": 1}


def ending(event_id: str, kind: str, contact_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": kind,
        "occurred_at": "2026-11-22T10:05:00Z",
        "contact_id": contact_id,
    }


def voice_load(service: Service, agent_id: str) -> int:
    agent = service.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=agent_id))
    return next(c.load for c in agent.capacity if c.channel == "voice")


def case_of(service: Service, identity: tuple[str, str]) -> routing_pb2.Case:
    """The case of the customer's latest contact."""
    customer = service.customers.LookupCustomer(
        customers_pb2.LookupCustomerRequest(
            identity=events_pb2.Identity(kind=identity[0], value=identity[1])
        )
    )
    latest = customer.recent_contacts[0].case_id
    return service.routing.GetCase(routing_pb2.GetCaseRequest(case_id=latest))


def test_over_kafka_abandoned_calls_leave_the_queue_and_ended_calls_free_the_slot(
    service: Service,
) -> None:
    service.add_agent("solo", {"general": 3}, capacity=VOICE)
    service.publish(
        event_json("ana-1", [ANA], channel="voice"),
        event_json("ben-1", [BEN], channel="voice"),
        ending("ben-gone", "contact.abandoned", "ben-1"),
        ending("ana-done", "contact.ended", "ana-1"),
        ending("ana-done", "contact.ended", "ana-1"),  # delivered twice: once in effect
    )
    service.wait_processed(5)
    ben = case_of(service, BEN)
    assert (ben.status, ben.owner_agent_id) == ("abandoned", "")
    ana = case_of(service, ANA)
    assert (ana.status, ana.owner_agent_id) == ("pending", "solo")
    assert voice_load(service, "solo") == 0, "the ended call freed the slot; Ben's case is gone"
    service.add_agent("late", {"general": 3}, capacity=VOICE)  # online now: pulls the queue
    assert case_of(service, BEN).owner_agent_id == ""
    assert voice_load(service, "late") == 0
    assert service.metric("ticketrouter_contacts_abandoned_total", channel="voice") == 1
    assert service.metric("ticketrouter_queue_abandon_seconds_count", channel="voice") == 1
    report = service.routing.GetResolutionReport(routing_pb2.ResolutionReportRequest())
    assert (report.abandoned, report.resolved) == (1, 0)

    service.publish(event_json("ana-2", [ANA], channel="voice"))
    service.wait_processed(6)
    back = case_of(service, ANA)
    assert back.case_id == ana.case_id
    assert (back.status, back.owner_agent_id, back.handoff_count) == ("assigned", "solo", 0)
    assert voice_load(service, "solo") == 1


def test_over_grpc_the_same_with_errors_that_name_the_field(service: Service) -> None:
    service.add_agent("solo", {"general": 3}, capacity=VOICE)
    routing = service.routing
    for event_id, who in (("ana-1", ANA), ("ben-1", BEN)):
        event = events_pb2.ContactEvent(
            event_id=event_id,
            type="contact.received",
            channel="voice",
            topic="general.question",
            identities=[events_pb2.Identity(kind=who[0], value=who[1])],
        )
        event.occurred_at.GetCurrentTime()
        routing.SubmitContact(routing_pb2.SubmitContactRequest(event=event))
    gone = routing.AbandonContact(
        routing_pb2.ContactOverRequest(event_id="ben-gone", contact_id="ben-1")
    )
    assert (gone.status, gone.owner_agent_id) == ("abandoned", "")
    done = routing.EndContact(
        routing_pb2.ContactOverRequest(event_id="ana-done", contact_id="ana-1")
    )
    again = routing.EndContact(
        routing_pb2.ContactOverRequest(event_id="ana-done", contact_id="ana-1")
    )
    assert (
        (done.status, done.owner_agent_id)
        == ("pending", "solo")
        == (
            again.status,
            again.owner_agent_id,
        )
    )
    assert voice_load(service, "solo") == 0
    with pytest.raises(grpc.RpcError) as missing:
        routing.EndContact(routing_pb2.ContactOverRequest(event_id="x"))
    assert missing.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "contact_id" in (missing.value.details() or "")
    with pytest.raises(grpc.RpcError) as unknown:
        routing.AbandonContact(routing_pb2.ContactOverRequest(event_id="y", contact_id="ghost"))
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
