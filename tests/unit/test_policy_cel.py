"""The CEL of routing policies: CEL semantics as specified, the same answers as
cel-python's own interpreter, and a refusal naming what is not supported."""

from __future__ import annotations

import math
import re
from typing import Any

import celpy
import pytest

from ticketrouter.cel import EvaluationError, ExpressionError, compile_expression

DATA: dict[str, Any] = {
    "contact": {
        "channel": "email",
        "topic": "billing.refund",
        "language": "en",
        "subject": "Charged twice",
        "attributes": {"order_value": 120.0, "tags": ["vip", "new"], "count": 3, "note": None},
    },
    "customer": {
        "tier": "gold",
        "language": "en",
        "open_cases": 2,
        "previous_cases": 5,
        "last_csat": None,
        "is_new": False,
    },
}


def evaluate(text: str) -> object:
    return compile_expression(text).evaluate(DATA)


# Well-typed expressions: cel-python's interpreter is the reference.
AGREED = [
    'contact.topic == "billing.refund"',
    'contact.topic.startsWith("billing.") && !contact.topic.endsWith(".fees")',
    "contact.attributes.order_value > 100",
    "contact.attributes.order_value >= 120.0 && customer.open_cases < 3",
    '"vip" in contact.attributes.tags',
    'customer.tier in ["gold", "platinum"]',
    'customer.open_cases >= 2 || customer.tier == "x"',
    "size(contact.subject) > 5 && contact.subject.size() == 13",
    'contact.subject.matches("(?i)charged")',
    'contact.subject.contains("twice")',
    "-7 / 2",
    "-7 % 2",
    "7 % -2",
    "customer.previous_cases * 2 + 1 - customer.open_cases",
    "int(contact.attributes.order_value) / 7",
    "double(customer.open_cases) / 4.0",
    'string(customer.open_cases) + "x"',
    "customer.last_csat == null",
    "!customer.is_new",
    'contact.attributes["order_value"] >= 120.0',
    "contact.attributes.tags[0]",
    "has(contact.attributes.order_value) ? contact.attributes.order_value : 0.0",
    "has(contact.attributes.missing)",
    "customer.open_cases == 2 ? 1 : 2",
    "[1, 2] + [3]",
    '"a" < "b"',
    "false && contact.attributes.missing",
    "contact.attributes.missing || true",
    "int('42') + 1",
    "double('2.5') * 2.0",
]


@pytest.mark.parametrize("text", AGREED)
def test_the_same_answer_as_the_reference_interpreter(text: str) -> None:
    environment = celpy.Environment()
    activation = {name: celpy.json_to_cel(value) for name, value in DATA.items()}
    reference = environment.program(environment.compile(text)).evaluate(activation)
    assert _plain(reference) == evaluate(text)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # heterogeneous numeric equality, as the CEL spec has it (cel-python refuses)
        ("contact.attributes.order_value == 120", True),
        ("contact.attributes.count == 3.0", True),
        ("max(50.0, contact.attributes.order_value)", 120.0),
        ("max(500, contact.attributes.order_value)", 500),
        ("min([3, 1, 2])", 1),
        ('"1" == 1', False),
        ("true == 1", False),
        ("string(true)", "true"),
        ("1.0 / 0.0", math.inf),
        ("dyn(3) + 1", 4),
        ("int('-42') + int('+1')", -41),
        ("double('-5.43e-21')", -5.43e-21),
        ("double('-Infinity')", -math.inf),
    ],
)
def test_cel_semantics(text: str, expected: object) -> None:
    assert evaluate(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A double with an integral value indexes a list (the value is dyn: cel-spec
        # lists.textproto, zero_based_double); any other double does not.
        ("[7, 8, 9][dyn(0.0)]", 7),
        ("[7, 8, 9][dyn(2.0)]", 9),
        ("contact.attributes.tags[contact.attributes.order_value - 119.0]", "new"),
        # int and double compare as cel-spec's comparisons.textproto has it: the int as
        # a double, so 2^63 - 1 and 2^63 (the nearest double) are equal, not ordered.
        ("dyn(9223372036854775807) < 9223372036854775808.0", False),
        ("dyn(9223372036854775807) >= 9223372036854775808.0", True),
        ("dyn(9223372036854775808.0) > 9223372036854775807", False),
        ("dyn(9223372036854775808.0) <= 9223372036854775807", True),
        ("dyn(-9223372036854775808) > -9223372036854775809.0", False),
        ("dyn(9223372036854775807) == 9223372036854775808.0", True),
        ("9223372036854775807 in [9223372036854775808.0]", True),
        ("dyn(9223372036854775807) < 9223372036854777857.0", True),
    ],
)
def test_numbers_at_the_edges_as_the_cel_spec_has_them(text: str, expected: object) -> None:
    assert evaluate(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("contact.attributes.missing > 3", "no such key: 'missing'"),
        ("1 + 2.0", "no such overload: _+_(int, double)"),
        ("contact.attributes.order_value * 2", "no such overload: _*_(double, int)"),
        ("customer.last_csat < 3", "no such overload: _<_(null, int)"),
        ("9223372036854775807 + 1", "integer overflow"),
        ("1 / 0", "division by zero"),
        ("contact.topic && true", "no such overload: _&&_(string)"),
        ("contact.attributes.tags[5]", "index 5 out of range"),
        ("int('x')", "int() cannot read 'x'"),
        ("int(1e30)", "int() of a double out of range"),
        # CEL reads a number from a string strictly (ASCII digits, an optional sign,
        # nothing around them), where Python's int() and float() are lenient.
        ("int(' 42 ')", "int() cannot read ' 42 '"),
        ("int('42\\n')", "int() cannot read '42\\n'"),
        ("int('1_000')", "int() cannot read '1_000'"),
        ("int('\uff11\uff12\uff13')", "int() cannot read '\uff11\uff12\uff13'"),
        ("int('')", "int() cannot read ''"),
        ("int('9223372036854775808')", "integer overflow"),
        ("double(' 2.5 ')", "double() cannot read ' 2.5 '"),
        ("double('\uff12.\uff15')", "double() cannot read '\uff12.\uff15'"),
        ("double('1_000.5')", "double() cannot read '1_000.5'"),
        ("double('1e999')", "double() of a value out of range: '1e999'"),
        # the double nearest -2^63 is -2^63 itself, outside CEL's int range as 2^63 is
        ("int(-9223372036854775808.0)", "int() of a double out of range"),
        ("int(9223372036854775807.0)", "int() of a double out of range"),
        ("[7, 8, 9][dyn(0.1)]", "no such overload: _[_](list, double)"),
        ("[7, 8, 9][dyn(3.0)]", "index 3 out of range"),
    ],
)
def test_runtime_errors_are_evaluation_errors(text: str, error: str) -> None:
    with pytest.raises(EvaluationError, match=re.escape(error)):
        evaluate(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty expression"),
        ("contact.topic ==", "not valid CEL: syntax error"),
        ('{"a": 1}', "map literals are not supported"),
        ("1u == 1u", "unsigned integers are not supported"),
        ("b'x' == b'x'", "bytes are not supported"),
        ("contact.attributes.tags.all(t, t != '')", "the macro all() is not supported"),
        ("contact.topic.lowerAscii()", "unknown method lowerAscii()"),
        ("size()", "size() takes 1 argument, got 0"),
        ("max()", "max() needs at least one argument"),
        ("has(contact)", "has() takes a field selection"),
        ("(" * 200 + "1" + ")" * 200, "nested too deeply"),
        ("x" * 2001, "longer than 2000 characters"),
    ],
)
def test_what_is_not_supported_is_refused_by_name(text: str, reason: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(reason)):
        compile_expression(text)


def test_constants_are_known_when_compiled() -> None:
    assert compile_expression("1 < 2 && true").is_constant
    assert compile_expression("1 < 2 && true").constant is True
    assert not compile_expression("contact.topic == 'x'").is_constant
    assert compile_expression("contact.topic == 'x'").variables == {"contact"}
    assert compile_expression("customer.tier == 'x'").variables == {"customer"}
