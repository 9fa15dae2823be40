"""A contact event on Kafka becomes a routed case: the promises a user checks."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import grpc
import pytest

from tests.builders import event_json, event_proto
from tests.e2e.conftest import Service, read_topic, wait_until
from ticketrouter.v1 import (
    agents_pb2,
    customers_pb2,
    events_pb2,
    routing_pb2,
)

ANA_EMAIL = ("email", "Ana.Lopez@Example.com")
ANA_CHAT = ("chat", "@ana.lopez")


def test_an_email_and_a_later_chat_from_one_person_are_one_customer_and_one_case(
    service: Service,
) -> None:
    service.add_agent("gen", {"general": 2}, capacity={"email": 3, "chat": 3})
    service.publish(
        event_json("e1", [ANA_EMAIL]),
        event_json("e2", [ANA_CHAT, ("email", "ana.lopez@example.com ")], channel="chat"),
    )
    service.wait_processed(2)
    by_chat = service.customers.LookupCustomer(
        customers_pb2.LookupCustomerRequest(
            identity=events_pb2.Identity(kind="chat", value="ANA.LOPEZ")
        )
    )
    by_email = service.customers.LookupCustomer(
        customers_pb2.LookupCustomerRequest(
            identity=events_pb2.Identity(kind="email", value="ana.lopez@example.com")
        )
    )
    assert by_chat.customer_id == by_email.customer_id
    assert {c.channel for c in by_chat.recent_contacts} == {"email", "chat"}
    assert len({c.case_id for c in by_chat.recent_contacts}) == 1
    [case_id] = by_chat.open_case_ids
    case = service.routing.GetCase(routing_pb2.GetCaseRequest(case_id=case_id))
    assert (case.contact_count, case.owner_agent_id, case.channel) == (2, "gen", "chat")
    outcomes = sorted(c.outcome for c in by_chat.recent_contacts)
    assert outcomes == ["assigned", "rejoined_case"]


def test_a_refund_waits_for_an_empowered_agent_and_then_goes_to_them(service: Service) -> None:
    service.add_agent("junior", {"billing": 2}, {"refund_limit": 1000})
    service.add_agent("capped", {"billing": 5}, {"refund_limit": 100})
    watched: queue.Queue[routing_pb2.Assignment] = queue.Queue()
    stream = service.routing.WatchAssignments(
        routing_pb2.WatchAssignmentsRequest(agent_id="senior")
    )
    threading.Thread(target=_collect, args=(stream, watched), daemon=True).start()

    service.publish(
        event_json("r1", [ANA_EMAIL], topic="billing.refund", attributes={"order_value": 150.0})
    )
    service.wait_processed(1)
    [waiting] = service.routing.ListQueue(routing_pb2.ListQueueRequest()).cases
    assert waiting.status == "queued" and waiting.owner_agent_id == ""
    assert dict(waiting.last_decision.excluded_by_reason) == {
        "missing_skill": 1,
        "missing_authority": 1,
    }
    assert [(a.name, a.at_least) for a in waiting.requirements.authority] == [
        ("refund_limit", 150.0)
    ]

    wait_until(
        lambda: service.metric("ticketrouter_queue_depth", rule="refunds") == 1, 5, "queue depth 1"
    )
    service.add_agent("senior", {"billing": 3}, {"refund_limit": 150})
    assignment = watched.get(timeout=10)
    stream.cancel()
    assert assignment.decision.case_id == waiting.case_id
    assert assignment.case.owner_agent_id == "senior"
    case = service.routing.GetCase(routing_pb2.GetCaseRequest(case_id=waiting.case_id))
    assert (case.status, case.owner_agent_id) == ("assigned", "senior")
    owned = service.routing.ListCases(
        routing_pb2.ListCasesRequest(owner_agent_id="senior", status="assigned")
    ).cases
    assert [c.case_id for c in owned] == [waiting.case_id]
    assert service.routing.ListQueue(routing_pb2.ListQueueRequest()).depth == 0
    wait_until(
        lambda: service.metric("ticketrouter_queue_depth", rule="refunds") == 0, 5, "queue depth 0"
    )


def _collect(stream: Any, into: queue.Queue[routing_pb2.Assignment]) -> None:
    """Read a server stream until the test cancels it."""
    try:
        for item in stream:
            into.put(item)
    except grpc.RpcError as err:
        if err.code() is not grpc.StatusCode.CANCELLED:
            raise


def test_delivering_the_same_event_twice_changes_nothing(service: Service) -> None:
    service.add_agent("gen", {"general": 1})
    event = event_json("dup-1", [ANA_EMAIL])
    service.publish(event, event)
    service.wait_processed(2)
    service.publish(event)
    service.wait_processed(3)
    customer = service.customers.LookupCustomer(
        customers_pb2.LookupCustomerRequest(
            identity=events_pb2.Identity(kind="email", value="ana.lopez@example.com")
        )
    )
    assert len(customer.recent_contacts) == 1
    [agent] = service.agents.ListAgents(agents_pb2.ListAgentsRequest()).agents
    assert [(c.channel, c.load) for c in agent.capacity if c.load] == [("email", 1)]
    assert service.metric("ticketrouter_contacts_received_total", channel="email") == 1
    assert service.metric("ticketrouter_routing_decisions_total", outcome="assigned") == 1


def test_an_invalid_event_goes_to_the_dlq_with_a_reason_and_the_next_is_routed(
    service: Service,
) -> None:
    service.add_agent("gen", {"general": 1})
    service.publish(
        b"{this is not json",
        event_json("bad-channel", [ANA_EMAIL], channel="carrier-pigeon"),
        event_json("good", [ANA_EMAIL]),
    )
    service.wait_processed(3)
    dead = read_topic(service.runtime.bootstrap_servers, service.settings.dlq_topic, 2)
    reasons = sorted(dict(r.headers)["dlq-reason"].decode() for r in dead)
    assert reasons == ["bad_json", "invalid_value"]
    errors = [dict(r.headers)["dlq-error"].decode() for r in dead]
    assert any("channel" in e for e in errors)
    assert {r.value for r in dead} >= {b"{this is not json"}
    customer = service.customers.LookupCustomer(
        customers_pb2.LookupCustomerRequest(
            identity=events_pb2.Identity(kind="email", value="ana.lopez@example.com")
        )
    )
    assert [c.outcome for c in customer.recent_contacts] == ["assigned"]
    assert service.metric("ticketrouter_dlq_messages_total", reason="bad_json") == 1
    assert service.metric("ticketrouter_dlq_messages_total", reason="invalid_value") == 1


def test_decisions_are_published_to_the_decisions_topic(service: Service) -> None:
    service.add_agent("gen", {"general": 1})
    service.publish(
        event_json("pub-1", [ANA_EMAIL]), event_json("pub-2", [ANA_CHAT], channel="chat")
    )
    service.wait_processed(2)
    records = read_topic(service.runtime.bootstrap_servers, service.settings.decisions_topic, 2)
    decisions = [json.loads(r.value) for r in records]
    assert sorted(d["event_id"] for d in decisions) == ["pub-1", "pub-2"]
    assert {d["outcome"] for d in decisions} == {"assigned"}
    assert all(d["explanation"]["rule"] == "default" for d in decisions)


def test_a_transfer_counts_a_handoff_and_removes_first_contact_credit(service: Service) -> None:
    service.add_agent("a1", {"general": 2})
    service.add_agent("a2", {"general": 2})
    submit = service.routing.SubmitContact
    moved = submit(routing_pb2.SubmitContactRequest(event=event_proto("t1", "one@x.com"))).case
    kept = submit(routing_pb2.SubmitContactRequest(event=event_proto("t2", "two@x.com"))).case
    transferred = service.routing.Transfer(
        routing_pb2.TransferRequest(case_id=moved.case_id, reason="escalation")
    )
    assert transferred.handoff_count == 1
    assert transferred.owner_agent_id not in ("", moved.owner_agent_id)
    assert [(h.from_agent_id, h.reason) for h in transferred.handoffs] == [
        (moved.owner_agent_id, "escalation")
    ]
    resolved = [
        service.routing.Resolve(routing_pb2.ResolveRequest(case_id=c.case_id))
        for c in (moved, kept)
    ]
    assert [r.first_contact_resolved for r in resolved] == [False, True]
    assert service.metric("ticketrouter_handoffs_total", reason="escalation") == 1
    assert service.metric("ticketrouter_cases_resolved_total", channel="email") == 2
    assert service.metric("ticketrouter_first_contact_resolutions_total", channel="email") == 1


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (routing_pb2.SubmitContactRequest(), "event"),
        (routing_pb2.SubmitContactRequest(event=events_pb2.ContactEvent(event_id="x")), "type"),
    ],
)
def test_invalid_submissions_are_refused_naming_the_field(
    service: Service, request_: routing_pb2.SubmitContactRequest, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        service.routing.SubmitContact(request_)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details()


def test_errors_map_to_status_codes_never_unknown(service: Service) -> None:
    bad_channel = event_proto("c1", "a@x.com", channel="fax")
    cases = [
        (
            lambda: service.routing.SubmitContact(
                routing_pb2.SubmitContactRequest(event=bad_channel)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "channel",
        ),
        (
            lambda: service.routing.GetCase(routing_pb2.GetCaseRequest(case_id="nope")),
            grpc.StatusCode.NOT_FOUND,
            "nope",
        ),
        (
            lambda: service.routing.ListCases(routing_pb2.ListCasesRequest(status="lost")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "status",
        ),
        (
            lambda: service.routing.GetCase(routing_pb2.GetCaseRequest()),
            grpc.StatusCode.INVALID_ARGUMENT,
            "case_id",
        ),
        (
            lambda: service.routing.Transfer(
                routing_pb2.TransferRequest(case_id="nope", reason="lunch")
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "reason",
        ),
    ]
    for call, code, mentions in cases:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() is code, err.value.details()
        assert mentions in err.value.details()
    queued = service.routing.SubmitContact(
        routing_pb2.SubmitContactRequest(event=event_proto("q1", "nobody@x.com"))
    ).case
    assert queued.status == "queued"
    with pytest.raises(grpc.RpcError) as err:
        service.routing.Resolve(routing_pb2.ResolveRequest(case_id=queued.case_id))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    again = service.routing.SubmitContact(
        routing_pb2.SubmitContactRequest(event=event_proto("q1", "nobody@x.com"))
    )
    assert again.duplicate and again.case.case_id == queued.case_id


def test_an_event_about_an_unknown_case_is_dead_lettered_and_its_batch_still_lands(
    service: Service,
) -> None:
    service.add_agent("gen", {"general": 1})
    survey = {
        "event_id": "s-ghost",
        "type": "survey.completed",
        "case_id": "ghost",
        "csat": 4,
        "occurred_at": "2026-11-22T10:00:00Z",
    }
    service.publish(
        event_json("before", [ANA_EMAIL]), survey, event_json("after", [ANA_CHAT], channel="chat")
    )
    service.wait_processed(3)
    [dead] = read_topic(service.runtime.bootstrap_servers, service.settings.dlq_topic, 1)
    assert dict(dead.headers)["dlq-reason"] == b"unknown_reference"
    assert b"ghost" in dict(dead.headers)["dlq-error"]
    assert service.metric("ticketrouter_routing_decisions_total", outcome="assigned") == 2


def test_an_unknown_field_is_ignored_counted_and_named_in_the_log(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    service.add_agent("gen", {"general": 1})
    typo = event_json("colour-1", [ANA_EMAIL])
    typo["colour"] = "blue"
    with caplog.at_level("WARNING", logger="ticketrouter.entrypoints.worker"):
        service.publish(typo, event_json("plain-1", [ANA_CHAT], channel="chat"))
        service.wait_processed(2)
    assert service.metric("ticketrouter_contacts_received_total", channel="email") == 1
    assert (
        service.metric(
            "ticketrouter_events_with_unknown_fields_total", event_type="contact.received"
        )
        == 1
    )
    [line] = [r for r in caplog.records if "the contract does not know" in r.getMessage()]
    assert getattr(line, "fields", None) == "colour"
    assert service.metric("ticketrouter_dlq_messages_total", reason="invalid_value") == 0
