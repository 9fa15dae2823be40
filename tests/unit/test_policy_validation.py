"""A policy that cannot route well is refused before it is used, with every problem
at once, each naming the rule, the field and the reason."""

from __future__ import annotations

import json

import pytest

from tests.builders import event_json
from ticketrouter.adapters.codec import decode
from ticketrouter.adapters.rules_file import parse_policy_text
from ticketrouter.domain.commands import ReceiveContact
from ticketrouter.domain.plan import ContactFacts
from ticketrouter.domain.policy_document import InvalidPolicy, RuleProblem

CATALOG = "skills: [billing, general]\n"


def problems(text: str) -> list[RuleProblem]:
    with pytest.raises(InvalidPolicy) as err:
        parse_policy_text(text)
    assert err.value.problems
    return err.value.problems


def only(text: str) -> RuleProblem:
    [problem] = problems(text)
    return problem


def test_yaml_that_does_not_parse() -> None:
    problem = only("rules: [")
    assert (problem.rule, problem.field) == ("-", "-")
    assert problem.reason.startswith("not valid YAML")


def test_a_condition_that_does_not_compile() -> None:
    problem = only(
        CATALOG + "rules:\n  - {name: a, when: 'contact.topic == '}\n  - {name: default}\n"
    )
    assert (problem.rule, problem.field) == ("a", "when")
    assert problem.reason.startswith("not valid CEL: syntax error at column")


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("contact.colour == 'red'", "unknown field contact.colour"),
        ("customer.age > 30", "unknown field customer.age"),
        ("has(contact.colour)", "unknown field contact.colour"),
        ("contact['colour'] == 1", "unknown field contact.colour"),
        ("agent.name == 'x'", "unknown name 'agent'"),
        ("contact.attributes.tags.exists(t, t == 'a')", "the macro exists() is not supported"),
        ("lower(contact.topic) == 'x'", "unknown function lower()"),
        ("contact.subject.matches('(')", "matches(): not a valid RE2 pattern"),
        ("'billing'", "must give true or false"),
        ("1 == 2", "unreachable: the condition is always false"),
    ],
)
def test_a_condition_that_reads_what_does_not_exist_or_cannot_decide(
    condition: str, reason: str
) -> None:
    text = CATALOG + f'rules:\n  - name: a\n    when: "{condition}"\n  - name: default\n'
    problem = only(text)
    assert (problem.rule, problem.field) == ("a", "when")
    assert reason in problem.reason


def test_an_unknown_skill_names_the_catalog() -> None:
    problem = only(CATALOG + "rules:\n  - {name: default, skills: {biling: 2}}\n")
    assert (problem.rule, problem.field) == ("default", "skills.biling")
    assert problem.reason == "unknown skill: not in the skills catalog (billing, general)"


def test_bad_values_each_named_and_all_at_once() -> None:
    text = (
        CATALOG
        + """
rules:
  - name: a
    when: contact.topic == "x"
    skills: {billing: 7}
    authority: {refund_limit: "contact.colour", can_waive_fees: false, x: [1]}
    priority: 12
    strategy: random
    language: english
    teams: care
    colour: blue
    steps:
      - {after_seconds: 60, proficiency: 1}
      - {after_seconds: 30, proficiency: -1}
      - {after_seconds: 90}
  - name: default
"""
    )
    found = {(p.rule, p.field): p.reason for p in problems(text)}
    assert found == {
        ("a", "colour"): "unknown field",
        ("a", "skills.billing"): "proficiency must be 1..5",
        ("a", "authority.refund_limit"): found[("a", "authority.refund_limit")],
        ("a", "authority.can_waive_fees"): "false requires nothing: remove it",
        ("a", "authority.x"): "must be a number, true, or a CEL expression giving a number",
        ("a", "priority"): "must be an integer from 0 to 9",
        ("a", "strategy"): "must be one of least_occupied, longest_idle, most_proficient",
        ("a", "language"): "must be a language code such as en, or any (omit it: the contact's)",
        ("a", "teams"): "must be a list of team names",
        ("a", "steps[0].proficiency"): "must be 0 or a negative change (down to -4)",
        ("a", "steps[1].after_seconds"): "must come after the previous step's time",
        ("a", "steps[2]"): "relaxes nothing: set proficiency, allow_teams or drop_language",
    }
    assert "unknown field contact.colour" in found[("a", "authority.refund_limit")]


def test_allowing_more_teams_needs_a_rule_that_limits_teams() -> None:
    text = CATALOG + (
        "rules:\n  - name: default\n    steps: [{after_seconds: 10, allow_teams: [care]}]\n"
    )
    problem = only(text)
    assert (problem.rule, problem.field) == ("default", "steps[0].allow_teams")
    assert "any team already qualifies" in problem.reason


def test_a_rule_after_one_that_always_holds_is_unreachable() -> None:
    text = CATALOG + (
        "rules:\n  - {name: everyone, when: 'true'}\n"
        "  - {name: billing, when: 'contact.topic == \"b\"'}\n  - {name: default}\n"
    )
    found = [(p.rule, p.field, p.reason) for p in problems(text)]
    assert found == [
        ("billing", "when", "unreachable: 'everyone' before it matches every contact"),
        ("default", "when", "unreachable: 'everyone' before it matches every contact"),
    ]


def test_a_condition_repeated_however_it_is_spaced_is_unreachable() -> None:
    text = CATALOG + (
        "rules:\n  - {name: first, when: 'contact.topic == \"b\"'}\n"
        "  - {name: second, when: 'contact.topic==\"b\"'}\n  - {name: default}\n"
    )
    problem = only(text)
    assert (problem.rule, problem.field) == ("second", "when")
    assert problem.reason == "unreachable: 'first' has the same condition"


def test_the_last_rule_must_be_a_default() -> None:
    problem = only(CATALOG + "rules:\n  - {name: only, when: 'contact.channel == \"chat\"'}\n")
    assert (problem.rule, problem.field) == ("only", "when")
    assert "the last rule must be the default" in problem.reason


def test_document_level_problems() -> None:
    found = {(p.rule, p.field): p.reason for p in problems("version: 3\nrules: []\n")}
    assert found == {
        ("-", "version"): "versions are numbered when a policy is applied: remove it",
        ("-", "rules"): "must be a non-empty list of rules",
    }
    assert only("- a list\n").reason.startswith("the document must be a mapping")


def test_rule_names_are_required_and_unique() -> None:
    text = CATALOG + "rules:\n  - {when: 'true'}\n  - {name: a}\n  - {name: a}\n"
    found = {(p.rule, p.field): p.reason for p in problems(text)}
    assert found[("#1", "name")] == "must be a non-empty string"
    assert found[("a", "name")] == "rule #2 has the same name"


def test_the_message_names_rule_field_and_reason() -> None:
    with pytest.raises(InvalidPolicy) as err:
        parse_policy_text(CATALOG + "rules:\n  - {name: default, priority: -1}\n")
    assert str(err.value) == "rule 'default', field 'priority': must be an integer from 0 to 9"


ATTRIBUTE_TRAP = (
    CATALOG
    + """
rules:
  - name: bulk-orders
    when: contact.attributes.count + 1 > 3
    skills: {billing: 2}
  - name: default
"""
)


def test_an_int_added_to_an_attribute_is_a_warning_naming_rule_part_and_fix() -> None:
    policy = parse_policy_text(ATTRIBUTE_TRAP)
    assert [(w.rule, w.field) for w in policy.warnings] == [("bulk-orders", "when")]
    assert policy.warnings[0].reason == (
        "the rule can never match: `contact.attributes.count + 1` fails for every contact: "
        "numbers in contact.attributes are doubles and CEL has no + of an int and a double; "
        "write 1.0 for 1, or int(contact.attributes.count)"
    )


def test_the_warning_tells_the_truth_about_a_decoded_event() -> None:
    """Every number in `attributes` arrives as a double, so the rule warned about never
    matches, and each fix the warning offers does."""
    event = event_json("e1", [("email", "a@example.com")], attributes={"count": 5})
    command = decode(json.dumps(event).encode())
    assert isinstance(command, ReceiveContact)
    assert type(command.attributes["count"]) is float
    facts = ContactFacts("email", "x", attributes=command.attributes)
    assert parse_policy_text(ATTRIBUTE_TRAP).plan_for(facts).rule == "default"
    for fixed in ("contact.attributes.count + 1.0 > 3", "int(contact.attributes.count) + 1 > 3"):
        policy = parse_policy_text(
            ATTRIBUTE_TRAP.replace("contact.attributes.count + 1 > 3", fixed)
        )
        assert policy.warnings == ()
        assert policy.plan_for(facts).rule == "bulk-orders"


@pytest.mark.parametrize(
    ("field", "expression", "reason"),
    [
        # one side of `||` can still decide: the part is named, the rule may match
        (
            "when",
            "contact.topic == 'x' || contact.attributes.n * 2 > 3",
            "`contact.attributes.n * 2` fails for every contact: numbers in "
            "contact.attributes are doubles and CEL has no * of an int and a double; "
            "write 2.0 for 2, or int(contact.attributes.n)",
        ),
        (
            "when",
            "customer.open_cases * 1.5 > 3",
            "the rule can never match: `customer.open_cases * 1.5` fails for every contact: "
            "CEL has no * of an int and a double; write double(customer.open_cases)",
        ),
        (
            "when",
            "contact.attributes.n % 2 == 0",
            "the rule can never match: `contact.attributes.n % 2` fails for every contact: "
            "numbers in contact.attributes are doubles and % takes ints only; "
            "write int(contact.attributes.n) % 2",
        ),
        (
            "when",
            "1 + 2.0 > 1",
            "the rule can never match: `1 + 2.0` fails for every contact: "
            "CEL has no + of an int and a double; write 1.0 for 1",
        ),
        (
            "authority.refund_limit",
            "contact.attributes.order_value - 10",
            "always falls back to no minimum amount: `contact.attributes.order_value - 10` "
            "fails for every contact: numbers in contact.attributes are doubles and CEL has "
            "no - of an int and a double; write 10.0 for 10, or "
            "int(contact.attributes.order_value)",
        ),
    ],
)
def test_arithmetic_that_fails_for_every_contact_is_warned_of(
    field: str, expression: str, reason: str
) -> None:
    rule = (
        f'    when: "{expression}"\n'
        if field == "when"
        else (
            f"    when: contact.topic == 'r'\n    authority: {{refund_limit: \"{expression}\"}}\n"
        )
    )
    policy = parse_policy_text(CATALOG + f"rules:\n  - name: a\n{rule}  - name: default\n")
    assert [(w.rule, w.field, w.reason) for w in policy.warnings] == [("a", field, reason)]


@pytest.mark.parametrize(
    "condition",
    [
        "contact.attributes.count > 3",  # CEL compares int with double
        "contact.attributes.count == 3",
        "contact.attributes.count + 1.0 > 3",
        "int(contact.attributes.count) % 2 == 0",
        "customer.open_cases + 1 > 2",
        "double(customer.open_cases) * 1.5 > 3.0",
        "has(contact.attributes.v) && contact.attributes.v / 2.0 > 1.0",
    ],
)
def test_arithmetic_that_can_succeed_is_not_warned_of(condition: str) -> None:
    text = CATALOG + f'rules:\n  - name: a\n    when: "{condition}"\n  - name: default\n'
    assert parse_policy_text(text).warnings == ()


def test_warnings_are_reported_beside_the_problems_of_an_invalid_policy() -> None:
    with pytest.raises(InvalidPolicy) as err:
        parse_policy_text(ATTRIBUTE_TRAP.replace("{billing: 2}", "{billing: 9}"))
    assert [(p.rule, p.field) for p in err.value.problems] == [("bulk-orders", "skills.billing")]
    assert [(w.rule, w.field) for w in err.value.warnings] == [("bulk-orders", "when")]
