"""Errors the domain raises at its edges: each names the offending field."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


class DomainError(Exception):
    """Base of every expected, user-facing failure."""


class InvalidField(DomainError):
    """A value failed validation; `field` names it the way the contract does."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def echo(value: str, limit: int = 64) -> str:
    """A client's value quoted back in a message, cut so that a 20 KB id cannot
    make the answer larger than the question."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


class NotFound(DomainError):
    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {echo(key)} not found")
        self.what = what
        self.key = key


class ConflictingState(DomainError):
    """The request is valid but the entity's current state forbids it."""


def parse_choice(choices: type[E], value: str, field: str, what: str) -> E:
    """A value from a closed set, case- and space-insensitive, or InvalidField listing it."""
    try:
        return choices(value.strip().lower())
    except ValueError:
        allowed = ", ".join(c.value for c in choices)
        raise InvalidField(field, f"unknown {what} {echo(value)} (one of {allowed})") from None
