"""CEL string literals decode as the CEL spec says, and a bad escape is refused
with the rule and field named, never a raw exception out of validation."""

from __future__ import annotations

import pytest

from ticketrouter.adapters.rules_file import parse_policy_text
from ticketrouter.cel import ExpressionError, decode_string_literal
from ticketrouter.domain.policy_document import InvalidPolicy


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r"'a\?b'", "a?b"),
        (r"'\`'", "`"),
        (r"'\X41\x42'", "AB"),
        (r"'\u00e9\U0001F600'", "é😀"),
        (r"'\101'", "A"),
        (r"'\a\b\f\n\r\t\v\\\"\''", "\a\b\f\n\r\t\v\\\"'"),
        ("'''one\ntwo'''", "one\ntwo"),
        ('"""say "hi\\n" """', 'say "hi\n" '),
        (r"r'\n stays'", r"\n stays"),
        (r"R'''\d+'''", r"\d+"),
    ],
)
def test_literals_decode_as_the_spec_says(literal: str, value: str) -> None:
    assert decode_string_literal(literal) == value


@pytest.mark.parametrize(
    ("literal", "says"),
    [
        (r"'\999'", r"\9"),
        (r"'\U00110000'", "U+10FFFF"),
        (r"'\ud800'", "surrogate"),
        (r"'\x4'", "hex escape"),
        (r"'\q'", "not an escape"),
        (r"'\08'", "octal"),
    ],
)
def test_bad_escapes_are_refused(literal: str, says: str) -> None:
    with pytest.raises(ExpressionError, match=says.replace("\\", "\\\\").replace("+", "\\+")):
        decode_string_literal(literal)


@pytest.mark.parametrize(
    "condition", [r"contact.topic == '\999'", r"contact.topic.matches('\ud800')"]
)
def test_a_policy_with_a_bad_escape_is_invalid_naming_rule_and_field(condition: str) -> None:
    # A YAML single-quoted scalar: backslashes stay as they are, quotes double.
    when = "'" + condition.replace("'", "''") + "'"
    lines = [
        "skills: [billing]",
        "rules:",
        "  - name: odd",
        f"    when: {when}",
        "    skills: {billing: 1}",
        "  - name: default",
        "    skills: {billing: 1}",
    ]
    with pytest.raises(InvalidPolicy) as caught:
        parse_policy_text("\n".join(lines) + "\n")
    assert "'odd'" in str(caught.value) and "'when'" in str(caught.value)
