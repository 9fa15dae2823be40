import pytest

from tests.builders import rules
from ticketrouter.adapters.rules_file import parse_rules_text
from ticketrouter.domain.rulebook import InvalidRuleBook


def test_exact_topic_then_longest_prefix_then_default() -> None:
    book = rules()
    assert book.rule_for("billing.refund").name == "refunds"
    assert book.rule_for("billing.invoice").name == "billing"
    assert book.rule_for("weather.report").name == "default"


def test_refund_authority_is_computed_from_the_order_value() -> None:
    refunds = rules().rule_for("billing.refund")
    req = refunds.requirements_for({"order_value": 480}, "en")
    assert req.skills == (("billing", 3),)
    assert [(n.name, n.at_least) for n in req.authority] == [("refund_limit", 480.0)]
    # the floor applies when the order is small or the attribute is missing
    assert req.language == "en"
    small = refunds.requirements_for({"order_value": 10}, "")
    assert [(n.name, n.at_least) for n in small.authority] == [("refund_limit", 50.0)]
    missing = refunds.requirements_for({}, "")
    assert [(n.name, n.at_least) for n in missing.authority] == [("refund_limit", 50.0)]


def test_problems_name_rule_field_and_reason() -> None:
    text = """
rules:
  - name: refunds
    topic: billing.refund
    skills: {billing: 9}
  - name: twice
    topic: billing.refund
  - name: odd
    topic: x
    colour: blue
  - name: default
    topic: "*"
"""
    with pytest.raises(InvalidRuleBook) as err:
        parse_rules_text(text)
    found = {(p.rule, p.field) for p in err.value.problems}
    assert ("refunds", "skills.billing") in found
    assert ("odd", "colour") in found
    reasons = {p.rule: p.reason for p in err.value.problems}
    assert "proficiency must be 1..5" in reasons["refunds"]


def test_duplicate_topic_is_unreachable() -> None:
    text = """
rules:
  - {name: a, topic: orders.*}
  - {name: b, topic: orders.*}
  - {name: default, topic: "*"}
"""
    with pytest.raises(InvalidRuleBook) as err:
        parse_rules_text(text)
    assert err.value.problems[0].rule == "b"
    assert "unreachable" in err.value.problems[0].reason


def test_a_default_rule_is_required_and_yaml_errors_are_reported() -> None:
    with pytest.raises(InvalidRuleBook, match="default rule"):
        parse_rules_text("rules: [{name: a, topic: x}]")
    with pytest.raises(InvalidRuleBook, match="not valid YAML"):
        parse_rules_text("rules: [")
