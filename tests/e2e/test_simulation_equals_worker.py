"""The simulation and the production path give the same decisions for the same
contacts at the same clock: the contacts go over a real broker to the Kafka worker
(on SQLite, its clock stepped by the test), and the same events, decoded by the same
codec, through the simulation's own replication (in-memory adapters, virtual clock)
with the same roster and policy, read from one scenario. Every decision published on
routing-decisions equals the simulation's: outcome, agent, rule, requirements,
candidates, eligible, exclusions, reason, summary and the time it was made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from tests.builders import event_json
from tests.e2e.conftest import e2e_settings, read_topic
from tests.e2e.progress import TEST_CEILING_S, wait_for_progress
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.codec import decision_to_json, decode
from ticketrouter.adapters.rules_file import load_policy
from ticketrouter.domain.channels import Presence
from ticketrouter.domain.commands import AdvanceQueue, SetPresence, UpsertAgent
from ticketrouter.domain.decisions import Decision
from ticketrouter.entrypoints.runtime import Runtime
from ticketrouter.entrypoints.simulate.engine import Replication
from ticketrouter.entrypoints.simulate.scenario import Scenario, load_scenario
from ticketrouter.service_layer.agents import set_presence, upsert_agent
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.queue import advance_queue

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

POLICY = """\
skills: [billing, orders, technical, security, general]
rules:
  - name: refunds
    when: contact.topic == "billing.refund"
    skills: {billing: 3}
    authority:
      refund_limit: >-
        has(contact.attributes.order_value)
        ? max(50.0, double(contact.attributes.order_value)) : 50.0
    priority: 2
    strategy: most_proficient
  - name: billing
    when: contact.topic.startsWith("billing.")
    skills: {billing: 2}
    priority: 1
  - name: orders
    when: contact.topic.startsWith("orders.")
    skills: {orders: 2}
    strategy: longest_idle
  - name: technical
    when: contact.topic.startsWith("tech.")
    skills: {technical: 4}
    priority: 1
    steps:
      - {after_seconds: 120, proficiency: -1}
  - name: account-security
    when: contact.topic == "account.security"
    skills: {security: 3}
    authority: {can_unlock_account: true}
    priority: 3
  - name: default
    skills: {general: 1}
"""

SCENARIO = """\
start: 2026-12-01T09:00:00Z
duration: 1h
policy: policy.yaml
roster:
  - {id: ana, team: billing, skills: {billing: 4, orders: 2},
     authority: {refund_limit: 500, can_waive_fees: true}, languages: [en, es],
     capacity: {voice: 1, chat: 2, email: 2}}
  - {id: ben, team: billing, skills: {billing: 2, orders: 3}, languages: [en],
     capacity: {voice: 1, chat: 1}}
  - {id: chen, team: technical, skills: {technical: 3, general: 2},
     languages: [en, es], capacity: {chat: 2, email: 2}}
  - {id: dia, team: care, skills: {general: 1, orders: 2}, languages: [es],
     capacity: {voice: 1, email: 1}}
traffic:
  generated:
    - {topic: general.question, channel: voice, per_hour: 0,
       handle: {constant: 100000}}
"""


def _contact(
    n: int, who: str, channel: str, topic: str, language: str = "en", value: float = 0
) -> dict[str, Any]:
    event = event_json(
        f"e{n}",
        [("email", f"{who}@example.com")],
        channel=channel,
        topic=topic,
        attributes={"order_value": value} if value else {},
    )
    event["language"] = language
    return event


def _ended(n: int, contact: int) -> dict[str, Any]:
    return {"event_id": f"end{n}", "type": "contact.ended", "contact_id": f"e{contact}"}


# (seconds after T0, the events published then, in order)
SCRIPT: list[tuple[float, list[dict[str, Any]]]] = [
    (0, [_contact(1, "c1", "voice", "billing.refund", value=300)]),
    (20, [_contact(2, "c2", "chat", "orders.late")]),
    (40, [_contact(3, "c3", "voice", "orders.damaged")]),  # ben, or dia
    (60, [_contact(4, "c4", "voice", "orders.late", language="es")]),
    (80, [_contact(5, "c5", "chat", "tech.login")]),  # nobody holds technical 4
    (90, [_contact(6, "c6", "chat", "account.security")]),  # nobody, ever
    (100, [_contact(7, "c7", "chat", "general.question", language="es")]),
    (130, [_contact(8, "c8", "voice", "billing.refund", value=80)]),  # all calls busy
    (150, [_contact(9, "c9", "chat", "billing.fees")]),
    (210, [_contact(10, "c10", "email", "general.question")]),  # step of e5 due first
    (240, [_ended(1, 1)]),  # ana's call ends: she pulls the waiting call
    (260, [_contact(11, "c1", "chat", "billing.refund", value=300)]),  # a repeat
    (300, [_contact(12, "c12", "voice", "orders.late")]),  # queued, priority 0
    (1500, [_contact(13, "c13", "voice", "billing.charge")]),  # queued, priority 1
    (1560, [_ended(2, 3)]),  # the call's slot frees: which waiting call comes first?
    (1600, [_ended(3, 8), _ended(4, 4)]),
    (1620, [_contact(14, "c14", "email", "orders.late"), _contact(15, "c15", "chat", "x.y")]),
    (1700, [_contact(16, "c16", "chat", "general.question", language="fr")]),
]
EVENTS = sum(len(events) for _, events in SCRIPT)
for _seconds, _events in SCRIPT:  # each event happened when it is published
    for _event in _events:
        _event["occurred_at"] = (T0 + timedelta(seconds=_seconds)).isoformat()


class SteppedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def _comparable(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decisions in the order made, with each side's generated ids replaced by the
    event that opened the case (or first met the customer)."""
    cases: dict[str, str] = {}
    customers: dict[str, str] = {}
    out = []
    for d in sorted(decisions, key=lambda d: (d["decided_at"], d.get("event_id", ""))):
        d = dict(d)
        opened = cases.setdefault(d.pop("case_id"), d.get("event_id", "?"))
        met = customers.setdefault(d.pop("customer_id"), d.get("event_id", "?"))
        d.pop("decision_id")
        d.pop("context", None)
        out.append({**d, "case": opened, "customer": met})
    return sorted(out, key=lambda d: (d["decided_at"], d["case"], d.get("event_id", "")))


def _simulated(scenario: Scenario) -> list[dict[str, Any]]:
    decided: list[Decision] = []
    policy = load_policy(scenario.policy_file).with_version(1)
    sim = Replication(scenario, policy, scenario.seed, observe=decided.append)
    for member in scenario.roster:
        sim.handle(upsert_agent, UpsertAgent(member.agent))
        sim.handle(set_presence, SetPresence(member.agent.agent_id, Presence.AVAILABLE))
    for seconds, events in SCRIPT:
        sim.now = seconds
        sim.handle(advance_queue, AdvanceQueue())
        commands = [decode(json.dumps(e).encode()) for e in events]
        sim.handle(handle_events, commands)  # as one batch of the worker
    return [decision_to_json(d) for d in decided]


@contextmanager
def _worker(broker: EmbeddedBroker, tmp_path: Path, clock: SteppedClock) -> Iterator[Runtime]:
    settings = e2e_settings(broker, f"sqlite:///{tmp_path}/ticketrouter.db").with_overrides(
        topic_partitions=1, rules_file=tmp_path / "policy.yaml"
    )
    with Runtime(
        settings, with_grpc=False, with_metrics=False, leave_group_timeout_ms=100, clock=clock
    ) as runtime:
        yield runtime


@pytest.mark.timeout(TEST_CEILING_S)
def test_the_worker_and_the_simulation_decide_alike(broker: EmbeddedBroker, tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    scenario = load_scenario(tmp_path / "scenario.yaml")
    simulated = _simulated(scenario)

    clock = SteppedClock(T0)
    with _worker(broker, tmp_path, clock) as runtime:
        app, worker = runtime.app, runtime.worker
        assert worker is not None
        for member in scenario.roster:
            app.bus.execute(upsert_agent, UpsertAgent(member.agent))
            app.bus.execute(set_presence, SetPresence(member.agent.agent_id, Presence.AVAILABLE))
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
        done = 0
        try:
            for seconds, events in SCRIPT:
                clock.at = T0 + timedelta(seconds=seconds)
                app.advance_queue()  # as its housekeeping does each second
                for event in events:
                    value = json.dumps(event).encode()
                    producer.send(runtime.settings.contacts_topic, key=b"k", value=value)
                producer.flush()
                done += len(events)
                wait_for_progress(
                    lambda: worker.processed + worker.dead_lettered, done, "events handled"
                )
        finally:
            producer.close(1)
        assert worker.dead_lettered == 0
        topic = runtime.settings.decisions_topic
        produced = [
            json.loads(r.value) for r in read_topic(broker.bootstrap, topic, len(simulated))
        ]

    assert EVENTS == 20
    outcomes = {d["outcome"] for d in simulated}
    assert {"assigned", "queued", "rejoined_case"} <= outcomes, outcomes
    assert len(simulated) > 19  # contacts, pulls and a step's decision
    assert _comparable(produced) == _comparable(simulated)
