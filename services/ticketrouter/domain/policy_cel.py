"""CEL expressions of a routing policy, compiled once per policy version.

cel-python parses the text (its grammar, its syntax errors with their position); the
parse tree is then compiled here into plain Python closures. cel-python's own
interpreter costs 30-150 µs per expression, and a contact may test every condition of
a policy before the default rule matches: at thousands of contacts a second that is
the whole budget. A closure tree costs a microsecond or two.

The subset covers what a routing condition needs: literals (int, double, string,
bool, null, lists), `contact.*` and `customer.*` (field names are checked when the
policy is validated), indexing, `has()`, `! - * / % + -`, comparisons, `in`, `&&`,
`||`, `?:`, `size`, `int`, `double`, `string`, `dyn`, `max`, `min` (extensions: the
largest/smallest of their numeric arguments) and the string methods `startsWith`,
`endsWith`, `contains`, `matches` (RE2). Anything else is refused at validation with
its name, never at routing time.

Semantics follow the CEL specification: numbers compare across int and double
(`120.0 == 120`), arithmetic does not mix them (`1 + 2.0` is an error), ints are
64-bit with overflow errors, `&&` and `||` absorb an error when the other side decides
(`false && error` is false). A runtime error (a missing key, a type mismatch) raises
EvaluationError; a policy treats it as "this condition does not hold".
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import celpy
import lark
import re2

Activation = Mapping[str, object]
Evaluate = Callable[[Activation], object]
ParseTree: TypeAlias = "lark.Tree[lark.Token]"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_EXPRESSION_CHARS = 2_000
# Parentheses, lists, calls and indexing inside one another. Without a bound, the
# depth at which an expression is refused would be wherever Python's recursion limit
# happens to fall, which moves with the shape of the parse tree.
MAX_NESTING = 50

# What a policy may read; anything under `contact.attributes` is free-form.
FIELDS: Mapping[str, frozenset[str]] = {
    "contact": frozenset({"channel", "topic", "language", "subject", "attributes"}),
    "customer": frozenset(
        {"tier", "language", "open_cases", "previous_cases", "last_csat", "is_new"}
    ),
}
FUNCTIONS = ("dyn", "double", "has", "int", "max", "min", "size", "string")
METHODS = ("contains", "endsWith", "matches", "size", "startsWith")
_MACROS = frozenset({"all", "exists", "exists_one", "filter", "map"})
_NUMBERS = (int, float)
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported to whoever wrote it, not logged


class ExpressionError(ValueError):
    """The text cannot be a policy expression: syntax, unknown name or field, or a
    construct outside the supported subset. The message is the reason, for a person."""


class EvaluationError(Exception):
    """A CEL runtime error for one contact: no such key, no matching overload,
    overflow, division by zero."""


@dataclass(frozen=True, slots=True, eq=False)
class Expression:
    source: str
    evaluate: Evaluate
    variables: frozenset[str]  # the top-level names it reads: contact, customer
    shape: ParseTree  # equal for the same expression however it is spaced
    is_constant: bool = False
    constant: object = None  # its value when it reads nothing and cannot fail


_compiled = 0
_counter_lock = threading.Lock()
_parser_lock = threading.Lock()
_parser: lark.Lark | None = None


def compilations() -> int:
    """How many expressions this process has compiled (each policy version compiles
    its own once; evaluating contacts compiles nothing)."""
    return _compiled


def compile_expression(source: str) -> Expression:
    """Parse and compile; raises ExpressionError with the reason."""
    global _compiled
    if not source.strip():
        raise ExpressionError("empty expression")
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"longer than {MAX_EXPRESSION_CHARS} characters")
    tree = _parse(source)
    compiler = _Compiler()
    try:
        evaluate = compiler.node(tree)
    except RecursionError:
        raise ExpressionError("nested too deeply") from None
    with _counter_lock:
        _compiled += 1
    variables = frozenset(compiler.variables)
    if not variables:
        try:
            value = evaluate({})
        except EvaluationError:
            pass
        else:
            return Expression(source, evaluate, variables, tree, True, value)
    return Expression(source, evaluate, variables, tree)


def _parse(source: str) -> ParseTree:
    with _parser_lock:  # one shared Lark parser, built on first use
        parser = _parser or _build_parser()
        try:
            return parser.parse(source)
        except (lark.exceptions.UnexpectedToken, lark.exceptions.UnexpectedCharacters) as err:
            raise ExpressionError(_syntax_error(source, err.line, err.column)) from None
        except lark.exceptions.LarkError:
            raise ExpressionError(_syntax_error(source, None, None)) from None
        except RecursionError:
            raise ExpressionError("nested too deeply") from None


# The single-child wrappers cel-python's grammar adds at every precedence level. The
# parser inlines them (Lark's `?rule`) when they wrap one node: `contact.topic` is then
# one `member_dot` over one `ident`, not fourteen nested trees. Together with parsing
# without position metadata (nothing here reads it: a syntax error carries its own
# line and column), that parses an expression in about a third of the time and memory
# of cel-python's own parser, with the same grammar and the same trees otherwise.
_INLINED = (
    "expr",
    "conditionalor",
    "conditionaland",
    "relation",
    "addition",
    "multiplication",
    "unary",
    "member",
    "primary",
)


def _build_parser() -> lark.Lark:
    global _parser
    grammar = (Path(celpy.__file__).parent / "cel.lark").read_text(encoding="utf-8")
    for rule in _INLINED:
        grammar, found = re.subn(rf"^{rule}(\s+:)", rf"?{rule}\1", grammar, flags=re.M)
        assert found == 1, f"cel-python's grammar has no rule {rule}"
    _parser = lark.Lark(
        grammar,
        parser="lalr",
        start="expr",
        g_regex_flags=re.M,
        lexer_callbacks={"IDENT": _ambiguous_literal},
        propagate_positions=False,
        maybe_placeholders=False,
        priority="invert",
    )
    return _parser


def _ambiguous_literal(token: lark.Token) -> lark.Token:
    """`true` and `false` lex as identifiers; they are literals (as in cel-python)."""
    if token.value in ("true", "false"):
        return lark.Token("BOOL_LIT", token.value)
    return token


def _syntax_error(source: str, line: int | None, column: int | None) -> str:
    if line is None or column is None:
        return "not valid CEL"
    lines = source.splitlines() or [""]
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    near = text[column - 1 : column + 11].strip()
    where = f"column {column}" if len(lines) == 1 else f"line {line}, column {column}"
    return f"not valid CEL: syntax error at {where}" + (
        f", near {near!r}" if near else ", at the end"
    )


# --- the compiler ---------------------------------------------------------------------


# The single-child wrappers the grammar adds at every precedence level (those the
# parser inlines when they wrap one node, and parentheses).
_WRAPPERS = frozenset(_INLINED) | {"paren_expr"}
# The grammar's rules the compiler handles; any other is refused by name.
_COMPILED = _WRAPPERS | {
    "member_dot",
    "member_dot_arg",
    "member_index",
    "ident",
    "ident_arg",
    "literal",
    "list_lit",
}


def _only_child(tree: ParseTree) -> ParseTree:
    while (
        tree.data in _WRAPPERS
        and len(tree.children) == 1
        and isinstance(tree.children[0], lark.Tree)
    ):
        tree = tree.children[0]
    return tree


def _variable(tree: ParseTree) -> str | None:
    inner = _only_child(tree)
    if inner.data == "ident":
        return str(inner.children[0])
    return None


def _string_literal(tree: ParseTree) -> str | None:
    inner = _only_child(tree)
    if inner.data == "literal":
        token = inner.children[0]
        if isinstance(token, lark.Token) and token.type in ("STRING_LIT", "MLSTRING_LIT"):
            return _string_value(token)
    return None


def _string_value(token: lark.Token) -> str:
    text = str(token)
    # The common literal, "x" or 'x' without escapes, is its text between the quotes;
    # cel-python decodes any other (escapes, raw and triple-quoted strings).
    quote = text[:1]
    if quote in ("'", '"') and not text.startswith(quote * 3) and "\\" not in text:
        return text[1:-1]
    return decode_string_literal(text)


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "?": "?",
    '"': '"',
    "'": "'",
    "`": "`",
}
_HEX_ESCAPES = {"x": 2, "X": 2, "u": 4, "U": 8}


def decode_string_literal(text: str) -> str:
    """A CEL string literal's value, as the CEL spec defines it: raw (r'...') or
    not, single or triple quoted (a triple-quoted string keeps its newlines), and
    the escapes \\a \\b \\f \\n \\r \\t \\v \\\\ \\? \\" \\' \\`, \\xHH, \\XHH, \\uHHHH,
    \\UHHHHHHHH and three octal digits. Anything else, and escapes of surrogates or
    of code points beyond U+10FFFF, is an ExpressionError naming the escape."""
    raw = text[:1] in ("r", "R")
    body = text[1:] if raw else text
    quotes = 3 if body[:3] in ("'''", '"""') else 1
    body = body[quotes:-quotes]
    if raw:
        return body
    out: list[str] = []
    at = 0
    while at < len(body):
        char = body[at]
        if char != "\\":
            out.append(char)
            at += 1
            continue
        escape = body[at + 1 : at + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            at += 2
        elif escape in _HEX_ESCAPES:
            digits = body[at + 2 : at + 2 + _HEX_ESCAPES[escape]]
            if len(digits) != _HEX_ESCAPES[escape] or not _is_hex(digits):
                raise ExpressionError(f"\\{escape}{digits}: not a complete hex escape")
            out.append(_code_point(int(digits, 16), f"\\{escape}{digits}"))
            at += 2 + len(digits)
        elif escape[:1] in "0123" and escape:
            digits = body[at + 1 : at + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits):
                raise ExpressionError(f"\\{digits}: an octal escape is three digits 0-7")
            out.append(_code_point(int(digits, 8), f"\\{digits}"))
            at += 4
        else:
            raise ExpressionError(f"\\{escape}: not an escape CEL knows")
    return "".join(out)


def _is_hex(digits: str) -> bool:
    return all(d in "0123456789abcdefABCDEF" for d in digits)


def _code_point(value: int, escape: str) -> str:
    if value > 0x10FFFF:
        raise ExpressionError(f"{escape}: beyond the last Unicode code point U+10FFFF")
    if 0xD800 <= value <= 0xDFFF:
        raise ExpressionError(f"{escape}: a surrogate, not a character")
    return chr(value)


_BRACKETS = frozenset({"paren_expr", "list_lit", "ident_arg", "member_dot_arg", "member_index"})


class _Compiler:
    def __init__(self) -> None:
        self.variables: set[str] = set()
        self.nesting = 0

    def node(self, tree: ParseTree) -> Evaluate:
        if tree.data not in _COMPILED:
            raise ExpressionError(f"{_construct(str(tree.data))} not supported in routing policies")
        if tree.data not in _BRACKETS:
            result: Evaluate = getattr(self, f"_{tree.data}")(tree)
            return result
        self.nesting += 1
        try:
            if self.nesting > MAX_NESTING:
                raise ExpressionError(
                    f"nested too deeply: more than {MAX_NESTING} levels of brackets"
                )
            result = getattr(self, f"_{tree.data}")(tree)
        finally:
            self.nesting -= 1
        return result

    def _children(self, tree: ParseTree) -> list[ParseTree]:
        return [c for c in tree.children if isinstance(c, lark.Tree)]

    # precedence levels: one child passes through; two (or three) apply an operator
    def _expr(self, tree: ParseTree) -> Evaluate:
        parts = self._children(tree)
        if len(parts) == 1:
            return self.node(parts[0])
        return _conditional(*(self.node(p) for p in parts))

    def _conditionalor(self, tree: ParseTree) -> Evaluate:
        parts = self._children(tree)
        if len(parts) == 1:
            return self.node(parts[0])
        return _logical(self.node(parts[0]), self.node(parts[1]), decisive=True)

    def _conditionaland(self, tree: ParseTree) -> Evaluate:
        parts = self._children(tree)
        if len(parts) == 1:
            return self.node(parts[0])
        return _logical(self.node(parts[0]), self.node(parts[1]), decisive=False)

    def _binary(
        self, tree: ParseTree, operators: Mapping[str, Callable[[Any, Any], object]]
    ) -> Evaluate:
        parts = self._children(tree)
        if len(parts) == 1:
            return self.node(parts[0])
        operator, right_tree = parts
        left_tree = self._children(operator)[0]
        left = self.node(left_tree)
        right = self.node(right_tree)
        kind = str(operator.data)
        if kind == "relation_in":
            constant = _constant_list(right_tree)
            if constant is not None:
                return _membership(left, constant)
        text = _string_literal(right_tree)
        if kind in ("relation_eq", "relation_ne") and text is not None:
            # The commonest condition, `contact.topic == "x"`: for a string, Python's
            # == is CEL's (a value of another kind is simply unequal), minus a call.
            if kind == "relation_eq":
                return lambda activation: left(activation) == text
            return lambda activation: left(activation) != text
        apply = operators[kind]

        def run(activation: Activation) -> object:
            return apply(left(activation), right(activation))

        return run

    def _relation(self, tree: ParseTree) -> Evaluate:
        return self._binary(tree, _RELATIONS)

    def _addition(self, tree: ParseTree) -> Evaluate:
        return self._binary(tree, _ARITHMETIC)

    def _multiplication(self, tree: ParseTree) -> Evaluate:
        return self._binary(tree, _ARITHMETIC)

    def _unary(self, tree: ParseTree) -> Evaluate:
        parts = self._children(tree)
        if len(parts) == 1:
            return self.node(parts[0])
        operand = self.node(parts[1])
        apply = _not if parts[0].data == "unary_not" else _negate
        return lambda activation: apply(operand(activation))

    def _member(self, tree: ParseTree) -> Evaluate:
        return self.node(self._children(tree)[0])

    _primary = _member
    _paren_expr = _member

    def _member_dot(self, tree: ParseTree) -> Evaluate:
        target_tree, name_token = tree.children
        assert isinstance(target_tree, lark.Tree)
        name = str(name_token)
        self._check_field(target_tree, name)
        target = self.node(target_tree)
        variable = _variable(target_tree)
        if variable is not None:  # `contact.topic`: always there, checked above
            return lambda activation: activation[variable][name]  # type: ignore[index]
        return lambda activation: _select(target(activation), name)

    def _member_index(self, tree: ParseTree) -> Evaluate:
        target_tree, key_tree = self._children(tree)
        key_text = _string_literal(key_tree)
        if key_text is not None:
            self._check_field(target_tree, key_text)
        target, key = self.node(target_tree), self.node(key_tree)
        return lambda activation: _index(target(activation), key(activation))

    def _member_dot_arg(self, tree: ParseTree) -> Evaluate:
        target_tree, name_token, *rest = tree.children
        assert isinstance(target_tree, lark.Tree)
        name = str(name_token)
        arg_trees = self._children(rest[0]) if rest and isinstance(rest[0], lark.Tree) else []
        if name in _MACROS:
            raise ExpressionError(f"the macro {name}() is not supported in routing policies")
        if name not in METHODS:
            raise ExpressionError(f"unknown method {name}() (available: {', '.join(METHODS)})")
        target = self.node(target_tree)
        if name == "size":
            _arity(name, arg_trees, 0)
            return lambda activation: _size(target(activation))
        _arity(name, arg_trees, 1)
        if name == "matches":
            return self._matches(target, arg_trees[0])
        argument = self.node(arg_trees[0])
        test = _STRING_TESTS[name]
        return lambda activation: _string_test(name, test, target(activation), argument(activation))

    def _matches(self, target: Evaluate, pattern_tree: ParseTree) -> Evaluate:
        pattern = _string_literal(pattern_tree)
        if pattern is not None:  # the usual case: compile the regular expression once
            try:
                regex = re2.compile(pattern, _RE2_OPTIONS)
            except re2.error as err:
                raise ExpressionError(f"matches(): {_regex_problem(err)}") from None
            return lambda activation: _search(regex, target(activation))
        dynamic = self.node(pattern_tree)

        def run(activation: Activation) -> object:
            text, wanted = target(activation), dynamic(activation)
            if type(wanted) is not str:
                raise EvaluationError(f"matches() needs a string pattern, got {_kind(wanted)}")
            try:
                return _search(re2.compile(wanted, _RE2_OPTIONS), text)
            except re2.error as err:
                raise EvaluationError(_regex_problem(err)) from None

        return run

    def _ident_arg(self, tree: ParseTree) -> Evaluate:
        name_token, *rest = tree.children
        name = str(name_token)
        arg_trees = self._children(rest[0]) if rest and isinstance(rest[0], lark.Tree) else []
        if name == "has":
            _arity(name, arg_trees, 1)
            return self._has(arg_trees[0])
        if name in _MACROS:
            raise ExpressionError(f"the macro {name}() is not supported in routing policies")
        if name not in _FUNCTIONS:
            raise ExpressionError(f"unknown function {name}() (available: {', '.join(FUNCTIONS)})")
        if name in ("max", "min"):
            if not arg_trees:
                raise ExpressionError(f"{name}() needs at least one argument")
        else:
            _arity(name, arg_trees, 1)
        function = _FUNCTIONS[name]
        arguments = [self.node(a) for a in arg_trees]
        if len(arguments) == 1:
            only = arguments[0]
            return lambda activation: function(only(activation))
        return lambda activation: function(*(a(activation) for a in arguments))

    def _has(self, argument: ParseTree) -> Evaluate:
        inner = _only_child(argument)
        if inner.data != "member_dot":
            raise ExpressionError("has() takes a field selection, e.g. has(contact.attributes.x)")
        target_tree, name_token = inner.children
        assert isinstance(target_tree, lark.Tree)
        name = str(name_token)
        self._check_field(target_tree, name)
        target = self.node(target_tree)

        def run(activation: Activation) -> object:
            value = target(activation)
            if isinstance(value, Mapping):
                return name in value
            raise EvaluationError(f"has() needs a map, got {_kind(value)}")

        return run

    def _ident(self, tree: ParseTree) -> Evaluate:
        name = str(tree.children[0])
        if name not in FIELDS:
            raise ExpressionError(f"unknown name {name!r} (a policy reads contact and customer)")
        self.variables.add(name)

        def run(activation: Activation) -> object:
            try:
                return activation[name]
            except KeyError:
                raise EvaluationError(f"{name} is not available") from None

        return run

    def _literal(self, tree: ParseTree) -> Evaluate:
        token = tree.children[0]
        assert isinstance(token, lark.Token)
        value = _literal_value(token)
        return lambda activation: value

    def _list_lit(self, tree: ParseTree) -> Evaluate:
        items = (
            [self.node(t) for t in self._children(self._children(tree)[0])] if tree.children else []
        )
        constant = _constant_list(tree)
        if constant is not None:  # `["a", "b"]`: built once, not per contact
            return lambda activation: list(constant)
        return lambda activation: [item(activation) for item in items]

    def _check_field(self, target: ParseTree, name: str) -> None:
        variable = _variable(target)
        if variable is not None and variable in FIELDS and name not in FIELDS[variable]:
            known = ", ".join(sorted(FIELDS[variable]))
            raise ExpressionError(f"unknown field {variable}.{name} ({variable} has: {known})")


def _constant_list(tree: ParseTree) -> tuple[object, ...] | None:
    """The values of a list literal of literals, e.g. `["gold", "platinum"]`; None for
    anything else. Called once the tree compiled, so every literal in it is valid."""
    inner = _only_child(tree)
    if inner.data != "list_lit":
        return None
    if not inner.children:
        return ()
    values: list[object] = []
    for item in inner.children[0].children:  # type: ignore[union-attr]
        if not isinstance(item, lark.Tree):
            continue
        literal = _only_child(item)
        if literal.data != "literal" or not isinstance(literal.children[0], lark.Token):
            return None
        values.append(_literal_value(literal.children[0]))
    return tuple(values)


def _membership(item: Evaluate, values: tuple[object, ...]) -> Evaluate:
    """`x in [literals]`, as `_contains` decides it, without walking the list per
    contact: a string is looked up among the list's strings (a string equals only a
    string in CEL); a value of another kind is compared with each element."""
    strings = frozenset(v for v in values if type(v) is str)

    def run(activation: Activation) -> object:
        value = item(activation)
        if type(value) is str:
            return value in strings
        return _contains(value, values)

    return run


def _construct(rule: str) -> str:
    names = {
        "map_lit": "map literals are",
        "member_object": "message construction is",
        "dot_ident": "leading-dot names are",
        "dot_ident_arg": "leading-dot calls are",
    }
    return names.get(rule, f"{rule} is")


def _arity(name: str, arguments: Sequence[ParseTree], wanted: int) -> None:
    if len(arguments) != wanted:
        plural = "argument" if wanted == 1 else "arguments"
        raise ExpressionError(f"{name}() takes {wanted} {plural}, got {len(arguments)}")


def _literal_value(token: lark.Token) -> object:
    text = str(token)
    if token.type == "INT_LIT":
        value = int(text, 16) if "x" in text.lower() else int(text, 10)
        if not INT64_MIN <= value <= INT64_MAX:
            raise ExpressionError(f"integer literal {text} is out of the 64-bit range")
        return value
    if token.type == "FLOAT_LIT":
        return float(text)
    if token.type in ("STRING_LIT", "MLSTRING_LIT"):
        return _string_value(token)
    if token.type == "BOOL_LIT":
        return text == "true"
    if token.type == "NULL_LIT":
        return None
    kind = {"UINT_LIT": "unsigned integers", "BYTES_LIT": "bytes"}.get(token.type, token.type)
    raise ExpressionError(f"{kind} are not supported in routing policies")


# --- runtime semantics ----------------------------------------------------------------


def _kind(value: object) -> str:
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
    kinds = ", ".join(_kind(v) for v in values)
    return EvaluationError(f"no such overload: {operator}({kinds})")


def _int64(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise EvaluationError("integer overflow")
    return value


def _is_number(value: object) -> bool:
    return type(value) in _NUMBERS  # bool is not a number in CEL


def equals(left: object, right: object) -> bool:
    """CEL equality: numbers compare by value across int and double; values of
    different kinds are unequal; lists and maps compare element by element."""
    left_type, right_type = type(left), type(right)
    if left_type in _NUMBERS and right_type in _NUMBERS:
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


def _ordered(operator: str, left: object, right: object) -> None:
    if _is_number(left) and _is_number(right):
        return
    if type(left) is type(right) and type(left) in (str, bool):
        return
    raise _no_overload(operator, left, right)


def _less(left: Any, right: Any) -> bool:
    _ordered("_<_", left, right)
    return bool(left < right)


def _less_equal(left: Any, right: Any) -> bool:
    _ordered("_<=_", left, right)
    return bool(left <= right)


def _greater(left: Any, right: Any) -> bool:
    _ordered("_>_", left, right)
    return bool(left > right)


def _greater_equal(left: Any, right: Any) -> bool:
    _ordered("_>=_", left, right)
    return bool(left >= right)


def _contains(item: object, container: object) -> bool:
    if isinstance(container, list | tuple):
        return any(equals(item, element) for element in container)
    if isinstance(container, Mapping):
        return any(equals(item, key) for key in container)
    raise _no_overload("@in", item, container)


_RELATIONS: Mapping[str, Callable[[Any, Any], object]] = {
    "relation_eq": equals,
    "relation_ne": lambda left, right: not equals(left, right),
    "relation_lt": _less,
    "relation_le": _less_equal,
    "relation_gt": _greater,
    "relation_ge": _greater_equal,
    "relation_in": _contains,
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


_ARITHMETIC: Mapping[str, Callable[[Any, Any], object]] = {
    "addition_add": _add,
    "addition_sub": _subtract,
    "multiplication_mul": _multiply,
    "multiplication_div": _divide,
    "multiplication_mod": _modulo,
}


def _not(value: object) -> object:
    if type(value) is not bool:
        raise _no_overload("!_", value)
    return not value


def _negate(value: Any) -> object:
    if type(value) is int:
        return _int64(-value)
    if type(value) is float:
        return -value
    raise _no_overload("-_", value)


def _logical(left: Evaluate, right: Evaluate, decisive: bool) -> Evaluate:
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


def _conditional(condition: Evaluate, then: Evaluate, otherwise: Evaluate) -> Evaluate:
    def run(activation: Activation) -> object:
        test = condition(activation)
        if test is True:
            return then(activation)
        if test is False:
            return otherwise(activation)
        raise _no_overload("_?_:_", test)

    return run


def _select(target: object, name: str) -> object:
    if isinstance(target, Mapping):
        try:
            return target[name]
        except KeyError:
            raise EvaluationError(f"no such key: {name!r}") from None
    raise EvaluationError(f"cannot select {name!r} from {_kind(target)}")


def _index(target: object, key: object) -> object:
    if isinstance(target, list | tuple):
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


def _size(value: object) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise _no_overload("size", value)


def _to_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float:
        if not math.isfinite(value) or not INT64_MIN <= value < 2.0**63:
            raise EvaluationError("int() of a double out of range")
        return int(value)  # truncates toward zero, as CEL does
    if type(value) is str:
        try:
            return _int64(int(value.strip(), 10))
        except ValueError:
            raise EvaluationError(f"int() cannot read {value[:40]!r}") from None
    raise _no_overload("int", value)


def _to_double(value: Any) -> float:
    if type(value) in _NUMBERS:
        return float(value)
    if type(value) is str and "_" not in value:
        try:
            return float(value)
        except ValueError:
            pass
        raise EvaluationError(f"double() cannot read {value[:40]!r}")
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


_FUNCTIONS: Mapping[str, Callable[..., object]] = {
    "double": _to_double,
    "dyn": lambda value: value,
    "int": _to_int,
    "max": _extreme(max, "max"),
    "min": _extreme(min, "min"),
    "size": _size,
    "string": _to_string,
}

_STRING_TESTS: Mapping[str, Callable[[str, str], bool]] = {
    "contains": lambda text, part: part in text,
    "endsWith": str.endswith,
    "startsWith": str.startswith,
}


def _string_test(name: str, test: Callable[[str, str], bool], text: object, part: object) -> bool:
    if type(text) is not str or type(part) is not str:
        raise _no_overload(name, text, part)
    return test(text, part)


def _regex_problem(err: Exception) -> str:
    detail = err.args[0] if err.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode(errors="replace")
    return f"not a valid RE2 pattern: {detail}"


def _search(regex: Any, text: object) -> bool:
    if type(text) is not str:
        raise _no_overload("matches", text)
    return regex.search(text) is not None
