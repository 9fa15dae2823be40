"""What can be known of an expression's values before any contact: the kind of each
part, and the arithmetic that can never succeed whatever the contact carries.

The trap this catches: every number in `contact.attributes` arrives as a double (the
JSON and protobuf Struct mapping), and CEL has no arithmetic mixing int and double, so
`contact.attributes.count + 1 > 3` is an error for every contact and the rule never
matches, without a word at validation. The same holds of `customer.open_cases * 1.5`
and of `%` on a double. Comparisons are not affected: CEL compares int with double.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import lark

from ticketrouter.cel.parser import WRAPPERS, ParseTree, only_child


class Kind(Enum):
    INT = "int"
    DOUBLE = "double"
    STRING = "string"
    BOOL = "bool"
    NULL = "null"
    LIST = "list"
    RECORD = "record"  # `contact`, `customer`: declared fields
    JSON = "json"  # read from JSON (`contact.attributes...`): a number in it is a double
    DYN = "dyn"  # not known before the contact


@dataclass(frozen=True, slots=True)
class Hazard:
    """A part of an expression that fails for every contact."""

    part: str  # the part, as written where it can be rebuilt, else its operator
    reason: str  # why, and what to write instead


@dataclass(frozen=True, slots=True)
class KindReport:
    hazards: tuple[Hazard, ...]
    never_succeeds: bool  # the whole expression fails for every contact
    never_true: bool  # it is never true: it fails, or `&&` has a side that always fails


_LITERALS = {
    "INT_LIT": Kind.INT,
    "FLOAT_LIT": Kind.DOUBLE,
    "STRING_LIT": Kind.STRING,
    "MLSTRING_LIT": Kind.STRING,
    "BOOL_LIT": Kind.BOOL,
    "NULL_LIT": Kind.NULL,
}
_RESULTS = {"int": Kind.INT, "double": Kind.DOUBLE, "string": Kind.STRING, "size": Kind.INT}
_OPERATORS = {
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
}
_DOUBLES = (Kind.DOUBLE, Kind.JSON)


def check_kinds(tree: ParseTree, fields: Mapping[str, Mapping[str, Kind]]) -> KindReport:
    """`fields`: the kind of each field of each top-level name. Runs on a tree the
    compiler accepted."""
    checker = _Checker(fields)
    _, fails = checker.node(tree)
    return KindReport(tuple(checker.hazards), fails, fails or checker.never_true(tree))


class _Checker:
    def __init__(self, fields: Mapping[str, Mapping[str, Kind]]) -> None:
        self.fields = fields
        self.hazards: list[Hazard] = []

    def never_true(self, tree: ParseTree) -> bool:
        """Whether a condition can never be true, given what `node` found failing."""
        tree = only_child(tree)
        children = [c for c in tree.children if isinstance(c, lark.Tree)]
        if tree.data == "conditionaland" and len(children) == 2:
            return any(self._never_true(c) for c in children)
        if tree.data == "conditionalor" and len(children) == 2:
            return all(self._never_true(c) for c in children)
        if tree.data == "expr" and len(children) == 3:
            return self._fails(children[0]) or all(self._never_true(c) for c in children[1:])
        return self._fails(tree)

    def _never_true(self, tree: ParseTree) -> bool:
        return self._fails(tree) or self.never_true(tree)

    def _fails(self, tree: ParseTree) -> bool:
        return _Checker(self.fields).node(tree)[1]

    def node(self, tree: ParseTree) -> tuple[Kind, bool]:
        """The node's kind, and whether it fails for every contact."""
        tree = only_child(tree)
        children = [c for c in tree.children if isinstance(c, lark.Tree)]
        rule = str(tree.data)
        if rule == "literal":
            token = tree.children[0]
            assert isinstance(token, lark.Token)
            return _LITERALS.get(token.type, Kind.DYN), False
        if rule == "ident":
            return Kind.RECORD, False
        if rule == "member_dot":
            return self._member(tree, children[0], str(tree.children[1]))
        if rule in ("addition", "multiplication") and len(children) == 2:
            return self._arithmetic(children[0], children[1])
        results = [self.node(c) for c in _operands(children)]
        fails = any(f for _, f in results)
        if rule in ("conditionalor", "conditionaland") and len(results) == 2:
            return Kind.BOOL, results[0][1] and results[1][1]  # either side may decide
        if rule == "expr" and len(results) == 3:  # `?:`: either branch may be taken
            (_, test), (then, a), (otherwise, b) = results
            return (then if then is otherwise else Kind.DYN), test or (a and b)
        if rule in ("relation", "member_dot_arg") or (rule == "unary" and _is_not(tree)):
            kind = Kind.INT if rule == "member_dot_arg" and _name(tree, 1) == "size" else Kind.BOOL
            return kind, fails
        if rule == "unary":
            return results[-1][0], fails
        if rule == "ident_arg":
            name = _name(tree, 0)
            if name == "dyn" and results:  # dyn() hides a kind from a checker, not at run time
                return results[0][0], fails
            return _RESULTS.get(name, Kind.BOOL if name == "has" else Kind.DYN), fails
        if rule == "list_lit":
            return Kind.LIST, fails
        if rule == "member_index":
            return (Kind.JSON if results[0][0] is Kind.JSON else Kind.DYN), fails
        return Kind.DYN, fails

    def _member(self, tree: ParseTree, target: ParseTree, name: str) -> tuple[Kind, bool]:
        kind, fails = self.node(target)
        inner = only_child(target)
        if inner.data == "ident":
            return self.fields.get(str(inner.children[0]), {}).get(name, Kind.DYN), fails
        return (Kind.JSON if kind is Kind.JSON else Kind.DYN), fails

    def _arithmetic(self, operation: ParseTree, right_tree: ParseTree) -> tuple[Kind, bool]:
        operator = _OPERATORS[str(operation.data)]
        left_tree = next(c for c in operation.children if isinstance(c, lark.Tree))
        (left, left_fails), (right, right_fails) = self.node(left_tree), self.node(right_tree)
        problem = _mismatch(operator, (left, left_tree), (right, right_tree))
        if problem is not None:
            part = f"{_text(left_tree) or '…'} {operator} {_text(right_tree) or '…'}"
            self.hazards.append(Hazard(part, problem))
            return Kind.DYN, True
        if left is right and left is not Kind.JSON:
            kind = left
        elif {left, right} <= set(_DOUBLES):
            kind = Kind.DOUBLE
        else:
            kind = Kind.DYN
        return kind, left_fails or right_fails


def _mismatch(
    operator: str, left: tuple[Kind, ParseTree], right: tuple[Kind, ParseTree]
) -> str | None:
    """Why `left operator right` fails for every contact, with the fix; None when it
    may succeed."""
    kinds = {left[0], right[0]}
    if operator == "%" and kinds & set(_DOUBLES):
        double = left if left[0] in _DOUBLES else right
        return (
            f"{_whose(double)}% takes ints only; "
            f"write int({_text(double[1]) or '…'}) % {_text(right[1]) or '…'}"
        )
    if Kind.INT not in kinds or not kinds & set(_DOUBLES):
        return None
    integer, double = (left, right) if left[0] is Kind.INT else (right, left)
    fix = _as_double(integer[1])
    if double[0] is Kind.JSON:
        fix += f", or int({_text(double[1]) or '…'})"
    return f"{_whose(double)}CEL has no {operator} of an int and a double; write {fix}"


def _whose(double: tuple[Kind, ParseTree]) -> str:
    if double[0] is Kind.JSON:
        return "numbers in contact.attributes are doubles and "
    return ""


def _as_double(tree: ParseTree) -> str:
    inner = only_child(tree)
    text = _text(tree)
    if inner.data == "literal" and text is not None:
        return f"{text}.0 for {text}"
    return f"double({text or '…'})"


def _text(tree: ParseTree) -> str | None:
    """The part as written, for names, fields and literals; None for anything else."""
    inner = only_child(tree)
    if inner.data in ("ident", "literal"):
        return str(inner.children[0])
    if inner.data == "member_dot":
        target = inner.children[0]
        assert isinstance(target, lark.Tree)
        base = _text(target)
        return None if base is None else f"{base}.{inner.children[1]}"
    if inner.data == "ident_arg":
        arguments = [c for c in inner.children if isinstance(c, lark.Tree)]
        inside = [_text(a) if isinstance(a, lark.Tree) else None for a in _args(arguments)]
        if all(isinstance(a, str) for a in inside):
            return f"{inner.children[0]}({', '.join(a for a in inside if a)})"
        return None
    if inner.data == "member_index":
        target, key = (c for c in inner.children if isinstance(c, lark.Tree))
        base, index = _text(target), _text(key)
        return None if base is None or index is None else f"{base}[{index}]"
    return None


def _operands(children: list[ParseTree]) -> list[ParseTree]:
    """The operand trees, through the operator nodes that hold the left operand
    (`relation_lt(left)`, `unary_not`) and the argument lists of calls."""
    found: list[ParseTree] = []
    for child in children:
        if child.data in ("exprlist", "fieldinits", "mapinits") or (
            child.data not in WRAPPERS and str(child.data).startswith(("relation_", "unary_"))
        ):
            found += [c for c in child.children if isinstance(c, lark.Tree)]
        else:
            found.append(child)
    return found


def _is_not(tree: ParseTree) -> bool:
    return any(isinstance(c, lark.Tree) and c.data == "unary_not" for c in tree.children)


def _name(tree: ParseTree, at: int) -> str:
    return str(tree.children[at])


def _args(arguments: list[ParseTree]) -> list[ParseTree | lark.Token]:
    return list(arguments[0].children) if arguments else []
