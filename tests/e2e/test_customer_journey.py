"""One customer across every channel, told as one timeline."""

from __future__ import annotations

import grpc
import pytest

from tests.builders import event_json
from tests.e2e.conftest import Service
from ticketrouter.v1 import customers_pb2, events_pb2, routing_pb2

EMAIL = ("email", "Ana.Lopez@Example.com")
PHONE = ("phone", "+1 (415) 555-0100")
CHAT = ("chat", "@ana.l")


def _pages(service: Service, customer_id: str, **filters: object) -> list[list[str]]:
    pages: list[list[str]] = []
    token = ""
    while True:
        page = service.customers.GetTimeline(
            customers_pb2.GetTimelineRequest(
                customer_id=customer_id, page_size=2, page_token=token, **filters
            )
        )
        pages.append([f"{i.kind} {i.channel} {i.detail}" for i in page.items])
        token = page.next_page_token
        if not token:
            return pages


def test_email_then_call_then_chat_is_one_customer_one_case_one_owner_one_timeline(
    service: Service,
) -> None:
    service.add_agent("owner", {"general": 2}, capacity={"email": 3, "voice": 1, "chat": 2})
    service.publish(event_json("j1", [EMAIL]))
    service.wait_processed(1)
    service.add_agent("rival", {"general": 5}, capacity={"email": 3, "voice": 1, "chat": 2})
    service.publish(
        event_json("j2", [PHONE, ("email", "ana.lopez@example.com")], channel="voice"),
        event_json("j3", [CHAT, ("phone", "415-555-0100")], channel="chat"),
    )
    service.wait_processed(3)

    customer = service.customers.LookupCustomer(
        customers_pb2.LookupCustomerRequest(
            identity=events_pb2.Identity(kind="chat", value="ana.l")
        )
    )
    assert {(i.kind, i.value) for i in customer.identities} == {
        ("email", "ana.lopez@example.com"),
        ("phone", "+14155550100"),
        ("chat", "ana.l"),
    }
    [case_id] = customer.open_case_ids
    contacts = sorted(customer.recent_contacts, key=lambda c: c.event_id)
    assert [(c.channel, c.case_id, c.outcome) for c in contacts] == [
        ("email", case_id, "assigned"),
        ("voice", case_id, "rejoined_case"),
        ("chat", case_id, "rejoined_case"),
    ]
    case = service.routing.GetCase(routing_pb2.GetCaseRequest(case_id=case_id))
    assert (case.owner_agent_id, case.contact_count, case.handoff_count) == ("owner", 3, 0)

    service.routing.AddNote(
        routing_pb2.AddNoteRequest(
            case_id=case_id, author="owner", text="called back about order 1234"
        )
    )
    pages = _pages(service, customer.customer_id)
    items = [item for page in pages for item in page]
    assert all(len(page) <= 2 for page in pages) and len(pages) == 2
    assert len(items) == len(set(items)) == 4
    assert [item.split()[0] for item in items] == ["contact", "contact", "contact", "note"]
    assert [i.split()[1] for i in items[:3]] == ["email", "voice", "chat"]
    assert "called back about order 1234" in items[3]
    only_calls = _pages(service, customer.customer_id, channel="voice", kinds=["contact"])
    assert [len(page) for page in only_calls] == [1]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (customers_pb2.GetTimelineRequest(customer_id="x", page_token="%%%"), "page_token"),
        (customers_pb2.GetTimelineRequest(customer_id="x", kinds=["gossip"]), "kinds"),
        (customers_pb2.GetTimelineRequest(customer_id="x", page_size=9999), "page_size"),
    ],
)
def test_bad_timeline_requests_name_the_field(
    service: Service, request_: customers_pb2.GetTimelineRequest, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        service.customers.GetTimeline(request_)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details()
