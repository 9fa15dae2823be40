"""Parsing with cel-python's grammar: the module that knows cel-python ships a Lark
grammar file and which of its rules to inline. The compiler walks the trees by the
grammar's rule names. These are cel-python's internals, not its API, so pyproject.toml
pins the release: a new one is taken deliberately, with the CEL conformance cases the
tests run."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TypeAlias

import celpy
import lark

from ticketrouter.cel.errors import ExpressionError

ParseTree: TypeAlias = "lark.Tree[lark.Token]"

_parser_lock = threading.Lock()
_parser: lark.Lark | None = None


def parse(source: str) -> ParseTree:
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


# The single-child wrappers the grammar adds at every precedence level (those the
# parser inlines when they wrap one node, and parentheses).
WRAPPERS = frozenset(_INLINED) | {"paren_expr"}


def only_child(tree: ParseTree) -> ParseTree:
    while (
        tree.data in WRAPPERS
        and len(tree.children) == 1
        and isinstance(tree.children[0], lark.Tree)
    ):
        tree = tree.children[0]
    return tree
