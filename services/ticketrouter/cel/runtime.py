"""CEL's runtime semantics for the values a routing policy sees: equality and order
across int and double, 64-bit arithmetic with overflow errors, conversions, and the
functions and string methods of the supported subset. Pure Python: no parser here."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import re2

from ticketrouter.cel.errors import EvaluationError
from ticketrouter.cel.literals import INT64_MAX, INT64_MIN

Activation = Mapping[str, object]
Evaluate = Callable[[Activation], object]

_NUMBERS = (int, float)
# What int() and double() read from a string, as CEL's implementations do (Go's
# strconv): ASCII digits, a sign, a decimal point and an exponent, the names of infinity
# and NaN, and nothing else. Python's own int() and float() would also take spaces
# around the number, underscores between digits and any Unicode digits (full-width).
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_DOUBLE_TEXT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)
_INFINITY = re.compile("inf", re.IGNORECASE)
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False  # a bad pattern is reported to whoever wrote it, not logged


def kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _no_overload(operator: str, *values: object) -> EvaluationError:
    kinds = ", ".join(kind(v) for v in values)
    return EvaluationError(f"no such overload: {operator}({kinds})")


def _int64(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise EvaluationError("integer overflow")
    return value


def _is_number(value: object) -> bool:
    return type(value) in _NUMBERS  # bool is not a number in CEL


def equals(left: object, right: object) -> bool:
    """CEL equality: numbers compare by value across int and double (the int as a
    double, see `_comparable`); values of different kinds are unequal; lists and maps
    compare element by element."""
    left_type, right_type = type(left), type(right)
    if left_type in _NUMBERS and right_type in _NUMBERS:
        if left_type is not right_type:
            return float(left) == float(right)  # type: ignore[arg-type]
        return left == right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(equals(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            equals(a, b) for a, b in zip(left, right, strict=True)
        )
    if left_type is not right_type:
        return False
    return left == right


def _comparable(operator: str, left: Any, right: Any) -> tuple[Any, Any]:
    """The two values as they are ordered. An int meets a double as a double, as
    cel-spec's comparisons.textproto has it: 2^63 - 1 is not below 2^63.0, the double
    it converts to (Python alone would compare the two exactly)."""
    left_type, right_type = type(left), type(right)
    if left_type in _NUMBERS and right_type in _NUMBERS:
        if left_type is not right_type:
            return float(left), float(right)
        return left, right
    if left_type is right_type and left_type in (str, bool):
        return left, right
    raise _no_overload(operator, left, right)


def _less(left: Any, right: Any) -> bool:
    left, right = _comparable("_<_", left, right)
    return bool(left < right)


def _less_equal(left: Any, right: Any) -> bool:
    left, right = _comparable("_<=_", left, right)
    return bool(left <= right)


def _greater(left: Any, right: Any) -> bool:
    left, right = _comparable("_>_", left, right)
    return bool(left > right)


def _greater_equal(left: Any, right: Any) -> bool:
    left, right = _comparable("_>=_", left, right)
    return bool(left >= right)


def contains(item: object, container: object) -> bool:
    if isinstance(container, list | tuple):
        return any(equals(item, element) for element in container)
    if isinstance(container, Mapping):
        return any(equals(item, key) for key in container)
    raise _no_overload("@in", item, container)


RELATIONS: Mapping[str, Callable[[Any, Any], object]] = {
    "relation_eq": equals,
    "relation_ne": lambda left, right: not equals(left, right),
    "relation_lt": _less,
    "relation_le": _less_equal,
    "relation_gt": _greater,
    "relation_ge": _greater_equal,
    "relation_in": contains,
}


def _add(left: Any, right: Any) -> object:
    kind = type(left)
    if kind is type(right):
        if kind is int:
            return _int64(left + right)
        if kind in (float, str):
            return left + right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return [*left, *right]
    raise _no_overload("_+_", left, right)


def _numeric(operator: str, left: object, right: object) -> type:
    kind = type(left)
    if kind is type(right) and kind in _NUMBERS:
        return kind
    raise _no_overload(operator, left, right)


def _subtract(left: Any, right: Any) -> object:
    kind = _numeric("_-_", left, right)
    return _int64(left - right) if kind is int else left - right


def _multiply(left: Any, right: Any) -> object:
    kind = _numeric("_*_", left, right)
    return _int64(left * right) if kind is int else left * right


def _divide(left: Any, right: Any) -> object:
    kind = _numeric("_/_", left, right)
    if kind is int:
        if right == 0:
            raise EvaluationError("division by zero")
        quotient = abs(left) // abs(right)  # CEL truncates toward zero
        return _int64(quotient if (left < 0) == (right < 0) else -quotient)
    if right == 0.0:  # IEEE 754, as CEL specifies for doubles
        if left == 0.0 or math.isnan(left):
            return math.nan
        return math.copysign(math.inf, left) * math.copysign(1.0, right)
    return left / right


def _modulo(left: Any, right: Any) -> object:
    if type(left) is not int or type(right) is not int:
        raise _no_overload("_%_", left, right)
    if right == 0:
        raise EvaluationError("modulus by zero")
    remainder = abs(left) % abs(right)  # the sign of the dividend, as in CEL
    return remainder if left >= 0 else -remainder


ARITHMETIC: Mapping[str, Callable[[Any, Any], object]] = {
    "addition_add": _add,
    "addition_sub": _subtract,
    "multiplication_mul": _multiply,
    "multiplication_div": _divide,
    "multiplication_mod": _modulo,
}


def logical_not(value: object) -> object:
    if type(value) is not bool:
        raise _no_overload("!_", value)
    return not value


def negate(value: Any) -> object:
    if type(value) is int:
        return _int64(-value)
    if type(value) is float:
        return -value
    raise _no_overload("-_", value)


def logical(left: Evaluate, right: Evaluate, decisive: bool) -> Evaluate:
    """`||` (decisive=True) and `&&` (decisive=False): the side that decides wins even
    when the other side is an error, as CEL specifies."""
    operator = "_||_" if decisive else "_&&_"

    def run(activation: Activation) -> object:
        failure: EvaluationError | None = None
        try:
            first = left(activation)
        except EvaluationError as err:
            failure = err
        else:
            if first is decisive:
                return decisive
            if first is not (not decisive):
                failure = _no_overload(operator, first)
        second = right(activation)
        if second is decisive:
            return decisive
        if second is not (not decisive):
            raise _no_overload(operator, second)
        if failure is not None:
            raise failure
        return not decisive

    return run


def conditional(condition: Evaluate, then: Evaluate, otherwise: Evaluate) -> Evaluate:
    def run(activation: Activation) -> object:
        test = condition(activation)
        if test is True:
            return then(activation)
        if test is False:
            return otherwise(activation)
        raise _no_overload("_?_:_", test)

    return run


def select(target: object, name: str) -> object:
    if isinstance(target, Mapping):
        try:
            return target[name]
        except KeyError:
            raise EvaluationError(f"no such key: {name!r}") from None
    raise EvaluationError(f"cannot select {name!r} from {kind(target)}")


def index(target: object, key: object) -> object:
    if isinstance(target, list | tuple):
        if type(key) is float and key.is_integer():
            # A dyn double with an integral value indexes a list (cel-spec lists.textproto,
            # zero_based_double): attribute numbers are doubles, whatever their value.
            key = int(key)
        if type(key) is not int:
            raise _no_overload("_[_]", target, key)
        if not 0 <= key < len(target):
            raise EvaluationError(f"index {key} out of range")
        return target[key]
    if isinstance(target, Mapping):
        if type(key) in (str, int, bool):
            try:
                return target[key]
            except KeyError:
                pass
        raise EvaluationError(f"no such key: {key!r}")
    raise _no_overload("_[_]", target, key)


def size(value: object) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise _no_overload("size", value)


def _to_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float:
        # Both ends are out: -2^63 and 2^63 are the doubles nearest INT64_MIN and
        # INT64_MAX, and CEL refuses both (cel-spec conversions.textproto).
        if not math.isfinite(value) or not -(2.0**63) < value < 2.0**63:
            raise EvaluationError("int() of a double out of range")
        return int(value)  # truncates toward zero, as CEL does
    if type(value) is str:
        if not _INT_TEXT.fullmatch(value):
            raise EvaluationError(f"int() cannot read {value[:40]!r}")
        return _int64(int(value, 10))
    raise _no_overload("int", value)


def _to_double(value: Any) -> float:
    if type(value) in _NUMBERS:
        return float(value)
    if type(value) is str:
        if not _DOUBLE_TEXT.fullmatch(value):
            raise EvaluationError(f"double() cannot read {value[:40]!r}")
        number = float(value)
        if math.isinf(number) and not _INFINITY.search(value):
            raise EvaluationError(f"double() of a value out of range: {value[:40]!r}")
        return number
    raise _no_overload("double", value)


def _to_string(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in _NUMBERS:
        return repr(value)
    raise _no_overload("string", value)


def _extreme(pick: Callable[..., Any], name: str) -> Callable[..., object]:
    def run(*values: object) -> object:
        if len(values) == 1 and isinstance(values[0], list | tuple):
            values = tuple(values[0])
        if not values or not all(_is_number(v) for v in values):
            raise _no_overload(name, *values)
        return pick(values)

    return run


FUNCTIONS: Mapping[str, Callable[..., object]] = {
    "double": _to_double,
    "dyn": lambda value: value,
    "int": _to_int,
    "max": _extreme(max, "max"),
    "min": _extreme(min, "min"),
    "size": size,
    "string": _to_string,
}

STRING_TESTS: Mapping[str, Callable[[str, str], bool]] = {
    "contains": lambda text, part: part in text,
    "endsWith": str.endswith,
    "startsWith": str.startswith,
}


def string_test(name: str, test: Callable[[str, str], bool], text: object, part: object) -> bool:
    if type(text) is not str or type(part) is not str:
        raise _no_overload(name, text, part)
    return test(text, part)


def regex_problem(err: Exception) -> str:
    detail = err.args[0] if err.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode(errors="replace")
    return f"not a valid RE2 pattern: {detail}"


def search(regex: Any, text: object) -> bool:
    if type(text) is not str:
        raise _no_overload("matches", text)
    return regex.search(text) is not None
