"""Values every database we support can store, checked at the edges.

PostgreSQL refuses a NUL character in text and JSON ("A string literal cannot
contain NUL (0x00) characters"), and no JSON encoder can write a NaN or an
infinity that a strict reader accepts. SQLite would store either, so without a
check at the edge the same event would route on one database and stop a batch on
the other. Both edges (Kafka and gRPC) call these, so the databases agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ticketrouter.domain.errors import InvalidField


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None."""
    if "\x00" in value:
        return "contains a NUL character"
    if value.isascii():  # the usual case, answered without encoding a copy
        return None
    try:
        value.encode("utf-8")  # in C: a lone surrogate is not UTF-8, which drivers need
    except UnicodeEncodeError:
        return "contains an unpaired surrogate"
    return None


def storable_text(field: str, value: str) -> str:
    """`value`, or InvalidField naming `field` when a database cannot store it."""
    problem = text_problem(value)
    if problem is not None:
        raise InvalidField(field, problem)
    return value


def storable_json(field: str, value: Any) -> Any:
    """Checks a JSON-like value (dicts, lists, strings, numbers) recursively: keys
    and strings as text, numbers finite. Returns the value unchanged."""
    if isinstance(value, str):
        storable_text(field, value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise InvalidField(field, f"{value} is not a finite number")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            storable_text(f"{field}.{str(key)[:64]}", str(key))
            storable_json(f"{field}.{str(key)[:64]}", item)
    elif isinstance(value, Sequence):
        for n, item in enumerate(value):
            storable_json(f"{field}[{n}]", item)
    return value
