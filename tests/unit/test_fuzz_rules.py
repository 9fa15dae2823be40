"""Fuzzing the policy parser. Operations people type policy files and paste drafts into
ValidatePolicy: any text either parses or is refused with problems naming the rule,
the field and the reason. Another exception would reach a gRPC client as UNKNOWN,
or stop the service at start with a traceback instead of a message."""

from __future__ import annotations

import datetime
from typing import Any

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.builders import RULES_FILE
from ticketrouter.adapters.rules_file import parse_policy_text
from ticketrouter.domain.plan import ContactFacts
from ticketrouter.domain.policy import Policy
from ticketrouter.domain.policy_document import InvalidPolicy

FUZZ = settings(max_examples=300, deadline=None)
VALID_TEXT = RULES_FILE.read_text(encoding="utf-8")
VALID: dict[str, Any] = yaml.safe_load(VALID_TEXT)
RULE_FIELDS = (
    "name",
    "when",
    "skills",
    "authority",
    "language",
    "teams",
    "priority",
    "strategy",
    "prefer_relationship",
    "steps",
)
CONDITIONS = [
    "true",
    "false",
    'contact.topic == "billing.refund"',
    'contact.topic.startsWith("billing.")',
    "contact.attributes.order_value > 100",
    "customer.open_cases > 0 && customer.tier == 'gold'",
    "contact.colour == 1",
    "contact.topic ==",
    "size(contact.subject) > 3 ? true : false",
    "max(1, 2)",
    "'x'",
]

# What YAML can produce: the scalars of the YAML 1.1 resolver (dates included),
# and keys of any of those types, mixed.
yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.dates()
    | st.sampled_from(["billing", "general", "", " ", "any", "least_occupied", *CONDITIONS])
)
yaml_keys = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.dates()
    | st.sampled_from(RULE_FIELDS)
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(yaml_keys, children, max_size=4)
    ),
    max_leaves=16,
)
authority_spec = (
    st.booleans()
    | st.integers(-10, 1000)
    | st.floats()
    | st.sampled_from([*CONDITIONS, "contact.attributes.order_value", "max(50.0, 1.0)"])
    | yaml_values
)
step_like = st.fixed_dictionaries(
    {},
    optional={
        "after_seconds": st.integers(-5, 1000) | st.floats() | yaml_scalars,
        "proficiency": st.integers(-6, 2) | yaml_scalars,
        "allow_teams": st.lists(st.text(max_size=5), max_size=2) | yaml_values,
        "drop_language": st.booleans() | yaml_scalars,
    },
)
rule_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=12) | yaml_scalars,
        "when": st.sampled_from(CONDITIONS) | st.text(max_size=40) | yaml_scalars,
        "skills": st.dictionaries(
            st.sampled_from(["billing", "general", "nope"]) | yaml_keys,
            st.integers(-1, 7) | yaml_scalars,
            max_size=3,
        )
        | yaml_values,
        "authority": st.dictionaries(yaml_keys, authority_spec, max_size=3) | yaml_values,
        "priority": st.integers(-2, 12) | yaml_scalars,
        "strategy": st.sampled_from(["least_occupied", "longest_idle", "x"]) | yaml_scalars,
        "language": st.sampled_from(["en", "any", "english"]) | yaml_scalars,
        "teams": st.lists(st.text(max_size=5), max_size=2) | yaml_values,
        "steps": st.lists(step_like, max_size=3) | yaml_values,
    },
).flatmap(
    # Unknown keys of any type next to the known ones.
    lambda rule: st.dictionaries(yaml_keys, yaml_values, max_size=2).map(
        lambda extra: {**extra, **rule}
    )
)
document_like = st.fixed_dictionaries(
    {"rules": st.lists(rule_like, max_size=5) | yaml_values},
    optional={
        "skills": st.just(["billing", "general"]) | yaml_values,
        "version": st.integers(-2, 2**40) | yaml_scalars,
    },
)


def assert_parses_or_names_the_problem(text: str) -> None:
    try:
        policy = parse_policy_text(text)
    except InvalidPolicy as err:
        assert err.problems
        for problem in err.problems:
            assert isinstance(problem.rule, str) and problem.rule
            # An unknown key is named as written, even the empty string.
            assert isinstance(problem.field, str)
            assert problem.field or problem.reason == "unknown field"
            assert isinstance(problem.reason, str) and problem.reason
        return
    assert isinstance(policy, Policy)
    assert policy.rules[-1].always
    assert len(set(policy.rule_names)) == len(policy.rule_names)
    # A valid policy plans every contact, whatever its attributes.
    for attributes in ({}, {"order_value": "abc"}, {"order_value": 1e300}, {"tags": None}):
        plan = policy.plan_for(ContactFacts("email", "billing.refund", attributes=attributes))
        assert plan.rule in policy.rule_names


def _dump(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True)


@FUZZ
@given(text=st.text(max_size=300))
# Deep nesting exhausts the YAML composer's recursion: one pasted draft must not
# turn ValidatePolicy into an UNKNOWN error.
@example(text="[" * 2_000)
@example(text="- " * 2_000 + "1")
def test_arbitrary_text(text: str) -> None:
    assert_parses_or_names_the_problem(text)


@FUZZ
@given(document=yaml_values)
def test_arbitrary_yaml_documents(document: Any) -> None:
    assert_parses_or_names_the_problem(_dump(document))


@FUZZ
@given(document=document_like)
# Unknown fields of mixed key types used to be sorted together: a TypeError.
@example(document={"rules": [{"name": "a", 1: 2, "colour": "blue"}]})
@example(document={"rules": [{"name": "a", None: 1, datetime.date(2026, 1, 1): 2}]})
def test_rule_shaped_documents(document: dict[str, Any]) -> None:
    assert_parses_or_names_the_problem(_dump(document))


@FUZZ
@given(condition=st.text(max_size=80))
@example(condition="(" * 500)
@example(condition="contact.attributes" + ".x" * 400)
@example(condition="'" + "\\" * 3)
def test_arbitrary_condition_text(condition: str) -> None:
    rules = [{"name": "a", "when": condition}, {"name": "default"}]
    assert_parses_or_names_the_problem(_dump({"skills": ["general"], "rules": rules}))


@FUZZ
@given(
    index=st.integers(0, len(VALID["rules"]) - 1),
    changes=st.dictionaries(st.sampled_from(RULE_FIELDS) | yaml_keys, yaml_values, max_size=3),
    removed=st.sets(st.sampled_from(RULE_FIELDS)),
)
def test_a_valid_file_with_one_rule_mutated(
    index: int, changes: dict[Any, Any], removed: set[str]
) -> None:
    rules = [dict(rule) for rule in VALID["rules"]]
    rules[index] = {k: v for k, v in rules[index].items() if k not in removed} | changes
    assert_parses_or_names_the_problem(_dump({**VALID, "rules": rules}))


@FUZZ
@given(data=st.data())
def test_a_valid_file_with_its_text_mutated(data: st.DataObject) -> None:
    lines = VALID_TEXT.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "indent", "insert"]))
        if action == "delete":
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, lines[at])
        elif action == "indent":
            lines[at] = " " * data.draw(st.integers(1, 4)) + lines[at]
        else:
            column = data.draw(st.integers(0, len(lines[at])))
            text = data.draw(
                st.text(max_size=6) | st.sampled_from([":", "- ", "{", "&a", "*a", "(", "&&"])
            )
            lines[at] = lines[at][:column] + text + lines[at][column:]
        if not lines:
            break
    assert_parses_or_names_the_problem("\n".join(lines))
