"""The CEL of routing policies: a compiler for the subset a routing condition needs,
built on cel-python's parser. The domain reads expressions through this interface
only; how they are parsed (cel-python's Lark grammar, its rule names) stays inside."""

from ticketrouter.cel.compiler import (
    FIELDS,
    FUNCTIONS,
    MAX_EXPRESSION_CHARS,
    MAX_NESTING,
    METHODS,
    Expression,
    compilations,
    compile_expression,
)
from ticketrouter.cel.errors import EvaluationError, ExpressionError
from ticketrouter.cel.kinds import Hazard, Kind, KindReport
from ticketrouter.cel.literals import decode_string_literal
from ticketrouter.cel.runtime import Activation, Evaluate, equals

__all__ = [
    "FIELDS",
    "FUNCTIONS",
    "MAX_EXPRESSION_CHARS",
    "MAX_NESTING",
    "METHODS",
    "Activation",
    "Evaluate",
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "Hazard",
    "Kind",
    "KindReport",
    "compilations",
    "compile_expression",
    "decode_string_literal",
    "equals",
]
