"""Comparing two policies over past contacts, as `ticketrouter rules replay` reports it."""

from __future__ import annotations

from tests.builders import agent, rules
from ticketrouter.adapters.rules_file import parse_policy_text
from ticketrouter.domain.channels import Presence
from ticketrouter.domain.plan import ContactFacts
from ticketrouter.domain.policy_replay import PolicyComparison, requirement_change

DRAFT = """
skills: [billing, orders, technical, security, general]
rules:
  - name: refunds
    when: contact.topic == "billing.refund"
    skills: {billing: 2}
    authority: {refund_limit: "max(50.0, double(contact.attributes.order_value))"}
    priority: 1
  - name: technical
    when: contact.topic.startsWith("tech.")
    skills: {technical: 4}
    steps: [{after_seconds: 300, proficiency: -2}]
  - name: default
    skills: {general: 1}
"""


def contact(topic: str, **attributes: object) -> ContactFacts:
    return ContactFacts("email", topic, "en", attributes=attributes)


def test_counts_moves_requirement_and_priority_changes() -> None:
    comparison = PolicyComparison(rules(), parse_policy_text(DRAFT))
    for value in (120.0, 300.0):
        comparison.add(contact("billing.refund", order_value=value))
    comparison.add(contact("billing.invoice"))
    comparison.add(contact("weather.report"))
    assert comparison.contacts == 4
    assert comparison.before.rules == {"refunds": 2, "billing": 1, "default": 1}
    assert comparison.after.rules == {"refunds": 2, "default": 2}
    assert comparison.moves == {("billing", "default"): 1}
    # grouped by what changed, not by each contact's order value
    assert comparison.requirement_changes == {
        ("billing>=3", "billing>=2"): 2,
        ("billing>=2", "general>=1"): 1,
    }
    assert comparison.priority_changes == {(2, 1): 2, (1, 0): 1}
    assert comparison.roster is None
    assert not comparison.before.unroutable


def test_unroutable_means_no_agent_could_ever_hold_it_after_every_step() -> None:
    roster = [
        agent("tess", {"technical": 2, "general": 1}, presence=Presence.OFFLINE),
        agent("bill", {"billing": 3}, {"refund_limit": 200}),
    ]
    comparison = PolicyComparison(rules(), parse_policy_text(DRAFT), roster)
    comparison.add(contact("tech.login"))  # technical>=3 today; >=4 relaxing to >=2 in the draft
    comparison.add(contact("billing.refund", order_value=500.0))  # nobody may refund 500
    comparison.add(contact("billing.refund", order_value=150.0))
    assert comparison.before.unroutable == {"technical": 1, "refunds": 1}
    assert comparison.after.unroutable == {"refunds": 1}


def test_a_requirement_change_leaves_out_what_both_share() -> None:
    before = rules().plan_for(contact("billing.refund", order_value=80.0)).requirements
    after = parse_policy_text(DRAFT).plan_for(contact("billing.refund", order_value=80.0))
    assert requirement_change(before, after.requirements) == ("billing>=3", "billing>=2")
    assert requirement_change(before, before) is None
