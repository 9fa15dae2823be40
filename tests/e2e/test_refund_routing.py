"""The core promise, end to end over Kafka and gRPC: a refund waits for an agent
empowered to resolve it rather than going to one who is not; a routing step relaxes
proficiency (never authority) on time; offers that are declined go straight to the
next agent, and none of this counts as a handoff."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.builders import event_json
from tests.e2e.conftest import Service, e2e_settings, read_topic, running_service, wait_until
from tests.e2e.test_contact_flow import _collect
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.v1 import agents_pb2, routing_pb2

POLICY = """
skills: [billing, general]
rules:
  - name: refunds
    when: contact.topic == "billing.refund"
    skills: {billing: 4}
    authority:
      refund_limit: double(contact.attributes.order_value)
    strategy: most_proficient
    priority: 2
    steps:
      - {after_seconds: 2, proficiency: -1}
  - name: default
    skills: {general: 1}
"""


@pytest.fixture
def router(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Service]:
    rules = tmp_path / "policy.yaml"
    rules.write_text(POLICY, encoding="utf-8")
    settings = e2e_settings(broker, f"sqlite:///{tmp_path}/ticketrouter.db").with_overrides(
        rules_file=rules, offer_timeout_seconds=30.0
    )
    with running_service(settings) as running:
        yield running


def _refund(event_id: str, email: str, order_value: float) -> dict[str, object]:
    return event_json(
        event_id,
        [("email", email)],
        topic="billing.refund",
        attributes={"order_value": order_value},
    )


def _case(service: Service, case_id: str) -> routing_pb2.Case:
    return service.routing.GetCase(routing_pb2.GetCaseRequest(case_id=case_id))


def _only_case(service: Service) -> str:
    [case] = service.routing.ListCases(routing_pb2.ListCasesRequest()).cases
    return case.case_id


def test_a_refund_of_480_waits_then_a_step_lets_an_authorised_junior_take_it(
    router: Service,
) -> None:
    router.add_agent("capped", {"billing": 5}, {"refund_limit": 300})
    router.add_agent("junior", {"billing": 3}, {"refund_limit": 1000})
    to_capped: queue.Queue[routing_pb2.Assignment] = queue.Queue()
    stream = router.routing.WatchAssignments(routing_pb2.WatchAssignmentsRequest(agent_id="capped"))
    threading.Thread(target=_collect, args=(stream, to_capped), daemon=True).start()

    router.publish(_refund("r480", "ana@example.com", 480.0))
    router.wait_processed(1)
    case_id = _only_case(router)
    waiting = _case(router, case_id)
    assert waiting.status == "queued"
    assert dict(waiting.last_decision.excluded_by_reason) == {
        "missing_authority": 1,
        "missing_skill": 1,
    }
    assert [(a.name, a.at_least) for a in waiting.requirements.authority] == [
        ("refund_limit", 480.0)
    ]

    # The step is due after 2 s; every router ticks once a second.
    wait_until(lambda: _case(router, case_id).status == "offered", 10, "the step to fire")
    offered = _case(router, case_id)
    assert offered.owner_agent_id == "junior"
    assert offered.last_decision.step == 1
    assert [(s.skill, s.min_proficiency) for s in offered.requirements.skills] == [("billing", 3)]
    explained = router.routing.ExplainDecision(routing_pb2.ExplainDecisionRequest(case_id=case_id))
    assert any(" step: step 1" in line for line in explained.history)
    assert dict((a.agent_id, a.reason) for a in explained.explanation.excluded_agents) == {
        "capped": "missing_authority"
    }

    accepted = router.routing.AcceptOffer(
        routing_pb2.AcceptOfferRequest(case_id=case_id, agent_id="junior")
    )
    assert (accepted.status, accepted.owner_agent_id, accepted.handoff_count) == (
        "assigned",
        "junior",
        0,
    )
    stream.cancel()
    assert to_capped.empty()  # never offered to the agent without the authority
    records = read_topic(router.runtime.bootstrap_servers, router.settings.decisions_topic, 2)
    # Delivery is at least once (a busy machine can publish a decision from the outbox
    # and again from the worker): consumers de-duplicate by decision_id, so does this.
    decisions = list(
        {d["decision_id"]: d for d in map(json.loads, (r.value for r in records))}.values()
    )
    assert [d.get("agent_id", "") for d in decisions] == ["", "junior"]
    assert {d["explanation"]["policy_version"] for d in decisions} == {1}


def test_a_declined_offer_goes_to_the_next_agent_at_once_without_a_handoff(
    router: Service,
) -> None:
    router.add_agent("capped", {"billing": 5}, {"refund_limit": 100})
    router.add_agent("anna", {"billing": 5}, {"refund_limit": 1000})
    router.add_agent("ben", {"billing": 4}, {"refund_limit": 1000})
    router.publish(_refund("r200", "bo@example.com", 200.0))
    router.wait_processed(1)
    case_id = _only_case(router)
    first = _case(router, case_id)
    assert (first.status, first.owner_agent_id) == ("offered", "anna")  # most proficient
    assert first.last_decision.strategy == "most_proficient"

    declined = router.routing.DeclineOffer(
        routing_pb2.DeclineOfferRequest(case_id=case_id, agent_id="anna", reason="on a call")
    )
    assert (declined.status, declined.owner_agent_id) == ("offered", "ben")
    assert declined.handoff_count == 0
    with pytest.raises(grpc.RpcError) as err:
        router.routing.AcceptOffer(routing_pb2.AcceptOfferRequest(case_id=case_id, agent_id="anna"))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    router.routing.AcceptOffer(routing_pb2.AcceptOfferRequest(case_id=case_id, agent_id="ben"))
    assert (
        sum(
            router.metric("ticketrouter_handoffs_total", reason=reason)
            for reason in ("missing_skill", "missing_authority", "language", "other")
        )
        == 0
    )
    anna = router.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id="anna"))
    [email] = [c for c in anna.capacity if c.channel == "email"]
    assert email.load == 0  # the declined offer gave the slot back
