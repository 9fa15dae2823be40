"""The two ways an expression fails: refused when compiled, or an error for one contact."""

from __future__ import annotations


class ExpressionError(ValueError):
    """The text cannot be a policy expression: syntax, unknown name or field, or a
    construct outside the supported subset. The message is the reason, for a person."""


class EvaluationError(Exception):
    """A CEL runtime error for one contact: no such key, no matching overload,
    overflow, division by zero."""
