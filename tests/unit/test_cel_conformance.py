"""The CEL compiler against the official conformance cases (google/cel-spec
tests/simple, a selection vendored in data/cel_spec_simple.textproto): every case
either gives the specified value or error, or is refused when compiled, with a
reason naming what routing policies do not support. Never a wrong answer, never a
Python exception escaping."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ticketrouter.cel import EvaluationError, ExpressionError, compile_expression

VENDORED = Path(__file__).parent / "data" / "cel_spec_simple.textproto"
# What a refusal may say: a construct outside the subset, or a name or function
# routing policies do not have (the cases' own variables, type(), uint(), ...).
REFUSALS = re.compile(
    r"(are|is) not supported in routing policies"
    r"|^unknown (name|function|method) "
)
# Of the 605 cases, 409 give the specified answer; the others use unsigned ints, bytes,
# map literals, messages or type(). A floor, so that a change refusing more of CEL
# than before is noticed.
AT_LEAST_PASSING = 409


# --- a reader for the protobuf text format, as far as these files use it -------------

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<punct>[{}:\[\],<>])
    |(?P<word>[-+.\w]+)""",
    re.VERBOSE,
)
_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}

Message = dict[str, list[Any]]  # each field's values, in order: a text format message


def _unquote(token: str) -> str:
    """A text-format string: C escapes of bytes (octal and hex) and of characters."""
    out = bytearray()
    body, at = token[1:-1], 0
    while at < len(body):
        char = body[at]
        if char != "\\":
            out += char.encode()
            at += 1
            continue
        escape = body[at + 1]
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            at += 2
        elif escape in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[at + 1 :])
            assert digits is not None
            out.append(int(digits.group(), 8))
            at += 1 + len(digits.group())
        elif escape == "x":
            digits = re.match(r"[0-9a-fA-F]{1,2}", body[at + 2 :])
            assert digits is not None
            out.append(int(digits.group(), 16))
            at += 2 + len(digits.group())
        elif escape in "uU":
            width = 4 if escape == "u" else 8
            out += chr(int(body[at + 2 : at + 2 + width], 16)).encode()
            at += 2 + width
        else:
            out += escape.encode()
            at += 2
    return out.decode("utf-8", errors="surrogateescape")


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        assert match is not None, f"unreadable text format at {text[at : at + 40]!r}"
        at = match.end()
        if match.lastgroup is not None:
            yield match.lastgroup, match.group()


def parse_text_format(text: str) -> Message:
    tokens = list(_tokens(text))
    message, at = _message(tokens, 0, "")
    assert at == len(tokens)
    return message


def _message(tokens: list[tuple[str, str]], at: int, end: str) -> tuple[Message, int]:
    message: Message = {}
    while at < len(tokens) and tokens[at][1] != end:
        kind, name = tokens[at]
        assert kind == "word", f"a field name, not {name!r}"
        at += 1
        if tokens[at][1] == ":":
            at += 1
        if tokens[at][1] in ("{", "<"):
            closing = "}" if tokens[at][1] == "{" else ">"
            value, at = _message(tokens, at + 1, closing)
            at += 1
        elif tokens[at][0] == "string":
            parts = []
            while at < len(tokens) and tokens[at][0] == "string":  # "a" "b" is "ab"
                parts.append(_unquote(tokens[at][1]))
                at += 1
            value = "".join(parts)
        else:
            value = tokens[at][1]
            at += 1
        message.setdefault(name, []).append(value)
    return message, at


# --- the cases -------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str  # file/section/test
    expr: str
    expected: Message  # a cel.expr.Value, or {} when an error is expected
    error: bool


def cases() -> list[Case]:
    text = VENDORED.read_text(encoding="utf-8")
    found: list[Case] = []
    for chunk in re.split(r"(?m)^# from: tests/simple/testdata/", text)[1:]:
        origin, body = chunk.split(".textproto\n", 1)
        for section in parse_text_format(body)["section"]:
            for test in section["test"]:
                name = f"{origin}/{section['name'][0]}/{test['name'][0]}"
                error = "eval_error" in test
                expected = {} if error else test["value"][0]
                found.append(Case(name, test["expr"][0], expected, error))
    return found


def expected_value(value: Message) -> object:
    """A cel.expr.Value as the compiler's Python value (None: one it cannot have)."""
    [(kind, [raw])] = value.items()
    if kind == "int64_value":
        return int(raw)
    if kind == "double_value":
        return float(raw)
    if kind == "string_value":
        return raw
    if kind == "bool_value":
        return raw == "true"
    if kind == "null_value":
        return None
    if kind == "list_value":
        return [expected_value(v) for v in raw.get("values", [])]
    raise AssertionError(f"a {kind} from an expression the compiler accepted")


def same(actual: object, expected: object) -> bool:
    """Equal and of the same kind: 1 is not 1.0, true is not 1, -0.0 is not 0.0."""
    if type(actual) is not type(expected):
        return False
    if isinstance(actual, list):
        assert isinstance(expected, list)
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(actual, float):
        assert isinstance(expected, float)
        if math.isnan(expected):
            return math.isnan(actual)
        return actual == expected and math.copysign(1, actual) == math.copysign(1, expected)
    return actual == expected


@dataclass(frozen=True)
class Outcome:
    refused: str = ""  # the reason, when the compiler refused the expression
    failure: str = ""  # what went wrong, for a case that neither passed nor was refused


def run(case: Case) -> Outcome:
    try:
        expression = compile_expression(case.expr)
    except ExpressionError as err:
        return Outcome(refused=str(err))
    try:
        result = expression.evaluate({})
    except EvaluationError as err:
        if case.error:
            return Outcome()
        return Outcome(failure=f"error {err} where the spec gives {case.expected}")
    if case.error:
        return Outcome(failure=f"{result!r} where the spec gives an error")
    wanted = expected_value(case.expected)
    if not same(result, wanted):
        return Outcome(failure=f"{result!r} where the spec gives {wanted!r}")
    return Outcome()


CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_conformance_case_passes_or_is_refused_by_name(case: Case) -> None:
    outcome = run(case)
    assert not outcome.failure, f"{case.expr}: {outcome.failure}"
    if outcome.refused:
        assert REFUSALS.search(outcome.refused), f"{case.expr}: refused as {outcome.refused!r}"


def test_most_of_the_selection_passes() -> None:
    passed = [c for c in CASES if run(c) == Outcome()]
    assert len(CASES) == 605
    assert len(passed) >= AT_LEAST_PASSING, f"{len(passed)} of {len(CASES)} pass"
