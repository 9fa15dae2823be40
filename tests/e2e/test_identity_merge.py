"""One customer, whatever the channels said: merges over Kafka that lose nothing,
strong identifiers that never auto-merge, manual corrections over gRPC, and the
context packet every agent receives."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import grpc
import pytest

from tests.builders import event_json, event_proto
from tests.e2e.conftest import Service, read_topic
from tests.e2e.test_contact_flow import _collect
from ticketrouter.v1 import customers_pb2, events_pb2, routing_pb2

EMAIL = ("email", "Ana.Lopez@Example.com")
PHONE = ("phone", "+1 (415) 555-0100")


def _customer_event(event_id: str, identity: tuple[str, str], **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "customer.updated",
        "occurred_at": "2026-11-22T10:05:00Z",
        "identities": [{"kind": identity[0], "value": identity[1]}],
        **fields,
    }


def _survey(event_id: str, case_id: str, csat: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "survey.completed",
        "occurred_at": "2026-11-22T10:06:00Z",
        "case_id": case_id,
        "csat": csat,
    }


def _customer(service: Service, customer_id: str) -> customers_pb2.Customer:
    return service.customers.GetCustomer(
        customers_pb2.GetCustomerRequest(customer_id=customer_id, recent_contacts=100)
    )


def _lookup(service: Service, kind: str, value: str) -> customers_pb2.Customer:
    return service.customers.LookupCustomer(
        customers_pb2.LookupCustomerRequest(identity=events_pb2.Identity(kind=kind, value=value))
    )


def _timeline_kinds(service: Service, customer_id: str) -> list[str]:
    page = service.customers.GetTimeline(
        customers_pb2.GetTimelineRequest(customer_id=customer_id, page_size=500)
    )
    assert page.next_page_token == ""
    return [item.kind for item in page.items]


def _holdings(service: Service, customer_id: str) -> dict[str, int]:
    customer = _customer(service, customer_id)
    kinds = _timeline_kinds(service, customer_id)
    return {
        "identities": len(customer.identities),
        "contacts": len(customer.recent_contacts),
        "open_cases": len(customer.open_case_ids),
        **{kind: kinds.count(kind) for kind in ("note", "csat", "offer", "contact")},
    }


def test_two_customers_linked_by_one_event_are_merged_with_nothing_lost(
    service: Service,
) -> None:
    service.add_agent("kim", {"general": 3, "orders": 3})
    service.publish(
        event_json("m1", [EMAIL]),
        event_json("m2", [PHONE], channel="voice", topic="orders.status"),
    )
    service.wait_processed(2)
    ana_by_mail, ana_by_phone = _lookup(service, *EMAIL), _lookup(service, *PHONE)
    assert ana_by_mail.customer_id != ana_by_phone.customer_id
    for customer, text in ((ana_by_mail, "asked about plans"), (ana_by_phone, "order late")):
        service.routing.AddNote(
            routing_pb2.AddNoteRequest(case_id=customer.open_case_ids[0], author="kim", text=text)
        )
    offer = {"code": "SORRY10", "description": "10% off the next order"}
    service.publish(
        _survey("s1", ana_by_phone.open_case_ids[0], 2),
        _customer_event("u1", PHONE, tier="gold", offers=[offer]),
    )
    service.wait_processed(4)
    before = [_holdings(service, c.customer_id) for c in (ana_by_mail, ana_by_phone)]
    assert before[1]["csat"] == before[1]["offer"] == 1

    linking = event_json("m3", [PHONE, EMAIL], channel="chat", topic="orders.status")
    service.publish(linking)
    service.wait_processed(5)

    survivor, merged = sorted([ana_by_mail.customer_id, ana_by_phone.customer_id])
    after = _holdings(service, survivor)
    expected = {key: before[0][key] + before[1][key] for key in before[0]}
    expected["contacts"] += 1
    expected["contact"] += 1
    assert after == expected
    customer = _customer(service, survivor)
    [record] = customer.merges
    assert (record.merged_customer_id, record.event_id, record.actor) == (merged, "m3", "router")
    assert customer.tier == "gold"
    assert _customer(service, merged).customer_id == survivor  # the old id is an alias
    assert _timeline_kinds(service, survivor).count("merged") == 1
    assert service.metric("ticketrouter_customer_merges_total", how="auto") == 1

    service.publish(linking)  # delivered again
    service.wait_processed(6)
    assert _holdings(service, survivor) == after
    assert len(_customer(service, survivor).merges) == 1
    assert service.metric("ticketrouter_customer_merges_total", how="auto") == 1


def test_two_different_account_ids_never_auto_merge_and_are_reported(service: Service) -> None:
    service.publish(
        event_json("a1", [EMAIL, ("account", "acc-1")]),
        event_json("a2", [PHONE, ("account", "acc-2")], channel="voice"),
        event_json("a3", [EMAIL, PHONE], channel="chat"),
    )
    service.wait_processed(3)
    by_mail, by_phone = _lookup(service, *EMAIL), _lookup(service, *PHONE)
    assert by_mail.customer_id != by_phone.customer_id
    for customer in (by_mail, by_phone):
        assert list(customer.merges) == []
        [conflict] = customer.conflicts
        assert conflict.event_id == "a3"
        assert conflict.reason == "conflicting_strong_identifiers"
        assert set(conflict.customer_ids) == {by_mail.customer_id, by_phone.customer_id}
        assert "conflict" in _timeline_kinds(service, customer.customer_id)
    assert (
        service.metric(
            "ticketrouter_identity_conflicts_total", reason="conflicting_strong_identifiers"
        )
        == 1
    )


def test_operators_link_unlink_and_merge_by_hand_with_an_audit_trail(service: Service) -> None:
    service.publish(
        event_json("h1", [EMAIL, ("account", "acc-1")]),
        event_json("h2", [PHONE, ("account", "acc-2")], channel="voice"),
    )
    service.wait_processed(2)
    by_mail, by_phone = _lookup(service, *EMAIL), _lookup(service, *PHONE)
    handle = events_pb2.Identity(kind="social", value="x:@ana_lopez")
    customers = service.customers

    with pytest.raises(grpc.RpcError) as err:
        customers.LinkIdentity(
            customers_pb2.LinkIdentityRequest(customer_id=by_mail.customer_id, identity=handle)
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "actor" in err.value.details()
    linked = customers.LinkIdentity(
        customers_pb2.LinkIdentityRequest(
            customer_id=by_mail.customer_id, identity=handle, actor="ops@acme", reason="T-42"
        )
    )
    assert ("social", "x:ana_lopez") in {(i.kind, i.value) for i in linked.identities}
    with pytest.raises(grpc.RpcError) as err:
        customers.LinkIdentity(
            customers_pb2.LinkIdentityRequest(
                customer_id=by_phone.customer_id, identity=handle, actor="ops@acme"
            )
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    customers.UnlinkIdentity(
        customers_pb2.UnlinkIdentityRequest(
            customer_id=by_mail.customer_id, identity=handle, actor="ops@acme"
        )
    )
    with pytest.raises(grpc.RpcError) as err:
        customers.UnlinkIdentity(
            customers_pb2.UnlinkIdentityRequest(
                customer_id=by_mail.customer_id, identity=handle, actor="ops@acme"
            )
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND

    merge = customers_pb2.MergeCustomersRequest(
        surviving_customer_id=by_phone.customer_id,
        merged_customer_id=by_mail.customer_id,
        actor="lead@acme",
        reason="confirmed by phone: one person, two accounts",
    )
    merged = customers.MergeCustomers(merge)
    assert merged.customer_id == by_phone.customer_id
    assert {("account", "ACC-1"), ("account", "ACC-2")} <= {
        (i.kind, i.value) for i in merged.identities
    }
    assert customers.MergeCustomers(merge).merges == merged.merges  # idempotent
    [record] = merged.merges
    assert (record.actor, record.reason) == ("lead@acme", merge.reason)
    assert _timeline_kinds(service, by_phone.customer_id).count("linked") == 1
    assert _timeline_kinds(service, by_phone.customer_id).count("unlinked") == 1
    assert service.metric("ticketrouter_customer_merges_total", how="manual") == 1
    with pytest.raises(grpc.RpcError) as err:
        customers.MergeCustomers(
            customers_pb2.MergeCustomersRequest(
                surviving_customer_id="nobody", merged_customer_id="nobody", actor="x"
            )
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_new_case_carries_the_customers_context_to_kafka_grpc_and_the_desk(
    service: Service,
) -> None:
    service.add_agent("kim", {"general": 3, "orders": 3}, capacity={"email": 20, "chat": 20})
    topics = [f"general.q{n}" for n in range(7)]
    for n, topic in enumerate(topics):
        service.publish(event_json(f"c{n}", [EMAIL], topic=topic))
        service.wait_processed(n + 1)
        [case_id] = _lookup(service, *EMAIL).open_case_ids
        service.routing.AddNote(
            routing_pb2.AddNoteRequest(case_id=case_id, author="kim", text=f"note {n}")
        )
        service.routing.Resolve(routing_pb2.ResolveRequest(case_id=case_id, resolution_code="done"))
    watched: queue.Queue[routing_pb2.Assignment] = queue.Queue()
    stream = service.routing.WatchAssignments(routing_pb2.WatchAssignmentsRequest(agent_id="kim"))
    threading.Thread(target=_collect, args=(stream, watched), daemon=True).start()

    service.publish(event_json("new", [EMAIL], channel="chat", topic="orders.status"))
    service.wait_processed(len(topics) + 1)

    records = read_topic(
        service.runtime.bootstrap_servers, service.settings.decisions_topic, len(topics) + 1
    )
    [published] = [json.loads(r.value) for r in records if json.loads(r.value)["event_id"] == "new"]
    context = published["context"]
    assert context["last_agent_id"] == "kim"
    assert context["last_agent_outcome"] == "done"
    previous = context["previous_cases"]
    assert len(previous) == 5  # bounded: TICKETROUTER_CONTEXT_ITEMS
    assert previous[0]["topic"] == topics[-1]
    assert len(context["recent_contacts"]) == 5 and len(context["notes"]) == 5
    assert len(records[-1].value) < 8 * 1024

    case = service.routing.GetCase(routing_pb2.GetCaseRequest(case_id=published["case_id"]))
    assert [c.case_id for c in case.context.open_cases] == [published["case_id"]]
    assert [c.topic for c in case.context.previous_cases] == [p["topic"] for p in previous]

    assignment = watched.get(timeout=10)
    stream.cancel()
    assert assignment.decision.case_id == published["case_id"]
    assert assignment.decision.context.last_agent_id == "kim"
    assert len(assignment.decision.context.previous_cases) == 5


def test_a_submitted_contact_comes_back_with_the_customers_context(service: Service) -> None:
    """The synchronous path platforms call to show the agent who is calling."""
    service.add_agent("kim", {"general": 3}, capacity={"email": 20, "voice": 5})
    for n in range(3):
        earlier = event_proto(f"s{n}", "returning@example.com", "email")
        earlier.topic = f"general.q{n}"  # a topic of its own: not a reopened case
        answer = service.routing.SubmitContact(
            routing_pb2.SubmitContactRequest(event=earlier), timeout=20
        )
        service.routing.Resolve(
            routing_pb2.ResolveRequest(case_id=answer.case.case_id, resolution_code="done"),
            timeout=20,
        )
    call = service.routing.SubmitContact(
        routing_pb2.SubmitContactRequest(
            event=event_proto("s-call", "returning@example.com", "voice")
        ),
        timeout=20,
    )
    assert call.decision.context.customer_id == call.case.customer_id
    assert len(call.decision.context.previous_cases) == 3
    assert call.decision.context.last_agent_id == "kim"
    assert [c.case_id for c in call.case.context.open_cases] == [call.case.case_id]
