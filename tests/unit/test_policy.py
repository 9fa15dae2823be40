"""Evaluating a CEL routing policy: first match wins, conditions over the contact and
the customer, computed authority, language, teams, strategy and routing steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ticketrouter.adapters.rules_file import parse_policy_text
from ticketrouter.cel import compilations
from ticketrouter.domain.plan import ContactFacts, Step, Strategy
from ticketrouter.domain.policy import Policy
from ticketrouter.domain.requirements import AuthorityNeed

POLICY = """
skills: [billing, general, vip_care]
rules:
  - name: vip
    when: customer.tier == "gold" && customer.open_cases > 0
    skills: {vip_care: 2}
    teams: [care]
    priority: 5
    strategy: most_proficient
    prefer_relationship: false
    steps:
      - {after_seconds: 60, proficiency: -1}
      - {after_seconds: 300, allow_teams: [support], drop_language: true}
  - name: big-refund
    when: contact.topic == "billing.refund" && contact.attributes.order_value >= 500.0
    skills: {billing: 4}
    authority: {refund_limit: contact.attributes.order_value, can_waive_fees: true}
    language: any
  - name: refund
    when: contact.topic == "billing.refund"
    skills: {billing: 3}
    authority: {refund_limit: "max(50.0, double(contact.attributes.order_value))"}
    language: es
    priority: 2
  - name: unhappy
    when: customer.last_csat != null && customer.last_csat <= 2
    skills: {general: 3}
    priority: 4
  - name: default
    skills: {general: 1}
"""


def facts(topic: str = "general.question", **changes: Any) -> ContactFacts:
    return ContactFacts("email", topic, "en", **changes)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy_text(POLICY).with_version(7)


def test_the_first_rule_that_holds_wins(policy: Policy) -> None:
    big = policy.plan_for(facts("billing.refund", attributes={"order_value": 900.0}))
    small = policy.plan_for(facts("billing.refund", attributes={"order_value": 120.0}))
    assert (big.rule, small.rule) == ("big-refund", "refund")
    assert big.policy_version == small.policy_version == 7


def test_a_contact_no_rule_holds_for_gets_the_default(policy: Policy) -> None:
    planned = policy.plan_for(facts("weather.report"))
    assert (planned.rule, planned.requirements.describe()) == ("default", "general>=1, lang=en")
    assert policy.rule_names == ("vip", "big-refund", "refund", "unhappy", "default")


def test_conditions_read_the_customer_and_their_history(policy: Policy) -> None:
    assert policy.needs_customer
    gold = facts(customer_tier="gold", open_cases=1, is_new_customer=False)
    assert policy.plan_for(gold).rule == "vip"
    assert policy.plan_for(facts(customer_tier="gold", open_cases=0)).rule == "default"
    assert policy.plan_for(facts(last_csat=2)).rule == "unhappy"
    assert policy.plan_for(facts(last_csat=5)).rule == "default"
    assert policy.plan_for(facts(last_csat=None)).rule == "default"


def test_authority_is_computed_from_the_contact(policy: Policy) -> None:
    big = policy.plan_for(facts("billing.refund", attributes={"order_value": 900.0}))
    assert big.requirements.authority == (
        AuthorityNeed("can_waive_fees", must_be_true=True),
        AuthorityNeed("refund_limit", at_least=900.0),
    )
    small = policy.plan_for(facts("billing.refund", attributes={"order_value": 10}))
    assert small.requirements.authority == (AuthorityNeed("refund_limit", at_least=50.0),)


def test_a_computed_authority_that_fails_still_requires_the_authority(policy: Policy) -> None:
    planned, checks = policy.explain(facts("billing.refund"))  # no order value at all
    assert planned.rule == "refund"
    assert planned.requirements.authority == (AuthorityNeed("refund_limit"),)
    # big-refund could not tell without the attribute: an error is "does not hold"
    assert [(c.rule, c.matched) for c in checks] == [
        ("vip", False),
        ("big-refund", False),
        ("refund", True),
    ]
    assert "order_value" in checks[1].error


def test_language_is_the_contacts_unless_the_rule_says(policy: Policy) -> None:
    assert policy.plan_for(facts()).requirements.language == "en"
    refund = facts("billing.refund", attributes={"order_value": 1.0})
    assert policy.plan_for(refund).requirements.language == "es"
    big = facts("billing.refund", attributes={"order_value": 600.0})
    assert policy.plan_for(big).requirements.language is None


def test_strategy_teams_and_steps_reach_the_plan(policy: Policy) -> None:
    planned = policy.plan_for(facts(customer_tier="gold", open_cases=2))
    assert planned.strategy is Strategy.MOST_PROFICIENT
    assert not planned.prefer_relationship
    assert planned.priority == 5
    assert planned.requirements.teams == frozenset({"care"})
    assert planned.steps == (
        Step(60.0, -1),
        Step(300.0, 0, frozenset({"support"}), drop_language=True),
    )
    fired, relaxed = planned.requirements_after(400)
    assert fired == 2
    assert relaxed.skills == (("vip_care", 1),)
    assert relaxed.teams == frozenset({"care", "support"})
    assert relaxed.language is None


def test_expressions_are_compiled_once_per_policy_never_per_contact() -> None:
    before = compilations()
    policy = parse_policy_text(POLICY)
    compiled = compilations() - before
    assert compiled == 6  # four conditions and two computed authorities
    contacts = [
        facts("billing.refund", attributes={"order_value": float(v)}) for v in range(0, 2000, 7)
    ]
    for contact in contacts:
        policy.plan_for(contact)
        policy.explain(contact)
    assert compilations() - before == compiled


def test_a_policy_that_reads_only_the_contact_does_not_need_the_customer() -> None:
    policy = parse_policy_text(
        "skills: [general]\nrules:\n"
        "  - {name: chat, when: 'contact.channel == \"chat\"', skills: {general: 2}}\n"
        "  - {name: default}\n"
    )
    assert not policy.needs_customer
    assert policy.plan_for(ContactFacts("chat", "x")).rule == "chat"
    assert policy.plan_for(ContactFacts("email", "x")).requirements.skills == ()


def test_the_readme_policies_are_valid() -> None:
    """The shipped policy as the README shows it, and the richer example rule the
    README shows after it, put before the default rule."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Routing policy") :]
    shipped, example = [part.split("```\n", 1)[0] for part in section.split("```yaml\n")[1:3]]
    policy = parse_policy_text(shipped)
    assert policy.rule_names == (
        "refunds",
        "fee-disputes",
        "billing",
        "orders",
        "technical",
        "account-security",
        "default",
    )
    default = "  - name: default\n"
    richer = parse_policy_text(shipped.replace(default, example + default))
    assert "vip-complaints" in richer.rule_names
    assert richer.needs_customer
