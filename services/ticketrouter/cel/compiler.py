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

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lark
import re2

from ticketrouter.cel import runtime
from ticketrouter.cel.errors import EvaluationError, ExpressionError
from ticketrouter.cel.kinds import Kind, KindReport, check_kinds
from ticketrouter.cel.literals import literal_value, string_value
from ticketrouter.cel.parser import WRAPPERS, ParseTree, only_child, parse
from ticketrouter.cel.runtime import Activation, Evaluate

MAX_EXPRESSION_CHARS = 2_000
# Parentheses, lists, calls and indexing inside one another. Without a bound, the
# depth at which an expression is refused would be wherever Python's recursion limit
# happens to fall, which moves with the shape of the parse tree.
MAX_NESTING = 50

# What a policy may read, and of what kind; anything under `contact.attributes` is
# free-form JSON (its numbers are doubles). `tier` and `last_csat` may also be null.
FIELD_KINDS: Mapping[str, Mapping[str, Kind]] = {
    "contact": {
        "channel": Kind.STRING,
        "topic": Kind.STRING,
        "language": Kind.STRING,
        "subject": Kind.STRING,
        "attributes": Kind.JSON,
    },
    "customer": {
        "tier": Kind.STRING,
        "language": Kind.STRING,
        "open_cases": Kind.INT,
        "previous_cases": Kind.INT,
        "last_csat": Kind.INT,
        "is_new": Kind.BOOL,
    },
}
FIELDS: Mapping[str, frozenset[str]] = {
    name: frozenset(fields) for name, fields in FIELD_KINDS.items()
}
FUNCTIONS = ("dyn", "double", "has", "int", "max", "min", "size", "string")
METHODS = ("contains", "endsWith", "matches", "size", "startsWith")
_MACROS = frozenset({"all", "exists", "exists_one", "filter", "map"})


@dataclass(frozen=True, slots=True, eq=False)
class Expression:
    source: str
    evaluate: Evaluate
    variables: frozenset[str]  # the top-level names it reads: contact, customer
    shape: ParseTree  # equal for the same expression however it is spaced
    kinds: KindReport  # arithmetic that fails for every contact, found when compiled
    is_constant: bool = False
    constant: object = None  # its value when it reads nothing and cannot fail


_compiled = 0
_counter_lock = threading.Lock()


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
    tree = parse(source)
    compiler = _Compiler()
    try:
        evaluate = compiler.node(tree)
    except RecursionError:
        raise ExpressionError("nested too deeply") from None
    with _counter_lock:
        _compiled += 1
    variables = frozenset(compiler.variables)
    kinds = check_kinds(tree, FIELD_KINDS)
    if not variables:
        try:
            value = evaluate({})
        except EvaluationError:
            pass
        else:
            return Expression(source, evaluate, variables, tree, kinds, True, value)
    return Expression(source, evaluate, variables, tree, kinds)


# The grammar's rules the compiler handles; any other is refused by name.
_COMPILED = WRAPPERS | {
    "member_dot",
    "member_dot_arg",
    "member_index",
    "ident",
    "ident_arg",
    "literal",
    "list_lit",
}


def _variable(tree: ParseTree) -> str | None:
    inner = only_child(tree)
    if inner.data == "ident":
        return str(inner.children[0])
    return None


def _string_literal(tree: ParseTree) -> str | None:
    inner = only_child(tree)
    if inner.data == "literal":
        token = inner.children[0]
        if isinstance(token, lark.Token) and token.type in ("STRING_LIT", "MLSTRING_LIT"):
            return string_value(token)
    return None


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
        return runtime.conditional(*(self.node(p) for p in parts))

    def _conditionalor(self, tree: ParseTree) -> Evaluate:
        parts = self._children(tree)
        if len(parts) == 1:
            return self.node(parts[0])
        return runtime.logical(self.node(parts[0]), self.node(parts[1]), decisive=True)

    def _conditionaland(self, tree: ParseTree) -> Evaluate:
        parts = self._children(tree)
        if len(parts) == 1:
            return self.node(parts[0])
        return runtime.logical(self.node(parts[0]), self.node(parts[1]), decisive=False)

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
        return self._binary(tree, runtime.RELATIONS)

    def _addition(self, tree: ParseTree) -> Evaluate:
        return self._binary(tree, runtime.ARITHMETIC)

    def _multiplication(self, tree: ParseTree) -> Evaluate:
        return self._binary(tree, runtime.ARITHMETIC)

    def _unary(self, tree: ParseTree) -> Evaluate:
        parts = self._children(tree)
        if len(parts) == 1:
            return self.node(parts[0])
        operand = self.node(parts[1])
        apply = runtime.logical_not if parts[0].data == "unary_not" else runtime.negate
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
        return lambda activation: runtime.select(target(activation), name)

    def _member_index(self, tree: ParseTree) -> Evaluate:
        target_tree, key_tree = self._children(tree)
        key_text = _string_literal(key_tree)
        if key_text is not None:
            self._check_field(target_tree, key_text)
        target, key = self.node(target_tree), self.node(key_tree)
        return lambda activation: runtime.index(target(activation), key(activation))

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
            return lambda activation: runtime.size(target(activation))
        _arity(name, arg_trees, 1)
        if name == "matches":
            return self._matches(target, arg_trees[0])
        argument = self.node(arg_trees[0])
        test = runtime.STRING_TESTS[name]
        return lambda activation: runtime.string_test(
            name, test, target(activation), argument(activation)
        )

    def _matches(self, target: Evaluate, pattern_tree: ParseTree) -> Evaluate:
        pattern = _string_literal(pattern_tree)
        if pattern is not None:  # the usual case: compile the regular expression once
            try:
                regex = re2.compile(pattern, runtime.RE2_OPTIONS)
            except re2.error as err:
                raise ExpressionError(f"matches(): {runtime.regex_problem(err)}") from None
            return lambda activation: runtime.search(regex, target(activation))
        dynamic = self.node(pattern_tree)

        def run(activation: Activation) -> object:
            text, wanted = target(activation), dynamic(activation)
            if type(wanted) is not str:
                raise EvaluationError(
                    f"matches() needs a string pattern, got {runtime.kind(wanted)}"
                )
            try:
                return runtime.search(re2.compile(wanted, runtime.RE2_OPTIONS), text)
            except re2.error as err:
                raise EvaluationError(runtime.regex_problem(err)) from None

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
        if name not in runtime.FUNCTIONS:
            raise ExpressionError(f"unknown function {name}() (available: {', '.join(FUNCTIONS)})")
        if name in ("max", "min"):
            if not arg_trees:
                raise ExpressionError(f"{name}() needs at least one argument")
        else:
            _arity(name, arg_trees, 1)
        function = runtime.FUNCTIONS[name]
        arguments = [self.node(a) for a in arg_trees]
        if len(arguments) == 1:
            only = arguments[0]
            return lambda activation: function(only(activation))
        return lambda activation: function(*(a(activation) for a in arguments))

    def _has(self, argument: ParseTree) -> Evaluate:
        inner = only_child(argument)
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
            raise EvaluationError(f"has() needs a map, got {runtime.kind(value)}")

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
        value = literal_value(token)
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
    inner = only_child(tree)
    if inner.data != "list_lit":
        return None
    if not inner.children:
        return ()
    values: list[object] = []
    for item in inner.children[0].children:  # type: ignore[union-attr]
        if not isinstance(item, lark.Tree):
            continue
        literal = only_child(item)
        if literal.data != "literal" or not isinstance(literal.children[0], lark.Token):
            return None
        values.append(literal_value(literal.children[0]))
    return tuple(values)


def _membership(item: Evaluate, values: tuple[object, ...]) -> Evaluate:
    """`x in [literals]`, as `runtime.contains` decides it, without walking the list per
    contact: a string is looked up among the list's strings (a string equals only a
    string in CEL); a value of another kind is compared with each element."""
    strings = frozenset(v for v in values if type(v) is str)

    def run(activation: Activation) -> object:
        value = item(activation)
        if type(value) is str:
            return value in strings
        return runtime.contains(value, values)

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
