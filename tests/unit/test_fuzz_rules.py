"""Fuzzing the rules parser. Operations people type rule files and paste drafts into
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
from ticketrouter.adapters.rules_file import parse_rules_text
from ticketrouter.domain.requirements import RuleBook
from ticketrouter.domain.rulebook import InvalidRuleBook

FUZZ = settings(max_examples=300, deadline=None)
VALID_TEXT = RULES_FILE.read_text(encoding="utf-8")
VALID: dict[str, Any] = yaml.safe_load(VALID_TEXT)
RULE_FIELDS = ("name", "topic", "skills", "authority", "priority")

# What YAML can produce: the scalars of the YAML 1.1 resolver (dates included),
# and keys of any of those types, mixed.
yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.dates()
    | st.sampled_from(["*", "billing.*", "billing.refund", "", " ", "order_value"])
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
    | st.fixed_dictionaries(
        {"attribute": st.text(max_size=12) | yaml_scalars},
        optional={"at_least": yaml_scalars, "other": yaml_scalars},
    )
    | yaml_values
)
rule_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=12) | yaml_scalars,
        "topic": st.sampled_from(["*", "billing.*", "billing.refund", "x"]) | yaml_scalars,
        "skills": st.dictionaries(yaml_keys, st.integers(-1, 7) | yaml_scalars, max_size=3)
        | yaml_values,
        "authority": st.dictionaries(yaml_keys, authority_spec, max_size=3) | yaml_values,
        "priority": st.integers(-2, 12) | yaml_scalars,
    },
).flatmap(
    # Unknown keys of any type next to the known ones.
    lambda rule: st.dictionaries(yaml_keys, yaml_values, max_size=2).map(
        lambda extra: {**extra, **rule}
    )
)
document_like = st.fixed_dictionaries(
    {"rules": st.lists(rule_like, max_size=5) | yaml_values},
    optional={"version": st.integers(-2, 2**40) | yaml_scalars},
)


def assert_parses_or_names_the_problem(text: str) -> None:
    try:
        book = parse_rules_text(text)
    except InvalidRuleBook as err:
        assert err.problems
        for problem in err.problems:
            assert isinstance(problem.rule, str) and problem.rule
            # An unknown key is named as written, even the empty string.
            assert isinstance(problem.field, str)
            assert problem.field or problem.reason == "unknown field"
            assert isinstance(problem.reason, str) and problem.reason
        return
    assert isinstance(book, RuleBook)
    assert book.default.topic == "*"
    assert all(rule.topic != "*" for rule in book.rules)


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
@example(document={"rules": [{"name": "a", "topic": "*", 1: 2, "colour": "blue"}]})
@example(document={"rules": [{"name": "a", "topic": "*", None: 1, datetime.date(2026, 1, 1): 2}]})
def test_rule_shaped_documents(document: dict[str, Any]) -> None:
    assert_parses_or_names_the_problem(_dump(document))


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
            text = data.draw(st.text(max_size=6) | st.sampled_from([":", "- ", "{", "&a", "*a"]))
            lines[at] = lines[at][:column] + text + lines[at][column:]
        if not lines:
            break
    assert_parses_or_names_the_problem("\n".join(lines))
