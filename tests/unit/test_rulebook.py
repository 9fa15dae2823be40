"""The policy shipped in deploy/config keeps the routing meaning of the topic rules
it replaced: exact topics, then topic families, then the default."""

from __future__ import annotations

import pytest

from tests.builders import rules
from ticketrouter.domain.plan import ContactFacts, Strategy


def plan(topic: str, **attributes: object) -> tuple[str, str, int]:
    planned = rules().plan_for(ContactFacts("email", topic, "en", attributes=attributes))
    return planned.rule, planned.requirements.describe(), planned.priority


@pytest.mark.parametrize(
    ("topic", "rule", "requirements", "priority"),
    [
        ("billing.fees", "fee-disputes", "billing>=2, can_waive_fees, lang=en", 1),
        ("billing.invoice", "billing", "billing>=2, lang=en", 1),
        ("orders.late", "orders", "orders>=2, lang=en", 0),
        ("tech.login", "technical", "technical>=3, lang=en", 1),
        ("account.security", "account-security", "security>=3, can_unlock_account, lang=en", 3),
        ("account.close", "default", "general>=1, lang=en", 0),
        ("weather.report", "default", "general>=1, lang=en", 0),
        ("billingx.refund", "default", "general>=1, lang=en", 0),
    ],
)
def test_exact_topics_then_families_then_the_default(
    topic: str, rule: str, requirements: str, priority: int
) -> None:
    assert plan(topic) == (rule, requirements, priority)


def test_refund_authority_is_the_order_value_never_below_50() -> None:
    assert plan("billing.refund", order_value=480.0)[1] == "billing>=3, refund_limit>=480, lang=en"
    assert plan("billing.refund", order_value=10)[1] == "billing>=3, refund_limit>=50, lang=en"
    # a missing order value keeps the floor, as the topic rules did
    assert plan("billing.refund")[1] == "billing>=3, refund_limit>=50, lang=en"
    assert plan("billing.refund")[2] == 2


def test_the_shipped_policy_reads_only_the_contact_and_uses_the_defaults() -> None:
    policy = rules()
    assert not policy.needs_customer
    assert policy.rule_names[-1] == "default"
    planned = policy.plan_for(ContactFacts("chat", "tech.login", "fr"))
    assert planned.strategy is Strategy.LEAST_OCCUPIED
    assert planned.prefer_relationship
    assert planned.steps == ()
    assert planned.requirements.language == "fr"
    assert planned.policy_version == 1
