"""The shape nearly every JSON event has, built into its message directly.

`json_format.ParseDict` walks a document field by field in Python and costs about
60 µs an event, most of the worker's decoding; the message's own constructor does the
same in C. A document whose every key is a field name and every value has the plain
JSON type of its field is built here; anything else (camelCase names, numbers as
strings, nulls, offers, unknown keys, escapes) returns None and takes the general
path, which decides with its own errors. A test holds the two paths equal.

A plain document is also checked here for what no database can store (a NUL, a
lone surrogate, a number that is not finite) as its values are looked at, so the
walk over the finished message is not needed; a document with any of them takes
the general path, whose error names the field.
"""

from __future__ import annotations

import math
from typing import Any

from ticketrouter.domain.storable import text_problem
from ticketrouter.v1 import events_pb2

_TEXT_FIELDS = frozenset(
    {
        "event_id",
        "type",
        "channel",
        "topic",
        "subject",
        "text",
        "language",
        "case_id",
        "contact_id",
        "display_name",
        "tier",
    }
)
_IDENTITY_FIELDS = frozenset({"kind", "value"})
_EXACT_INT = 2**53  # beyond it a JSON integer is not the double a Struct stores
_INT32 = 2**31


def plain_event(document: Any) -> events_pb2.ContactEvent | None:
    """The event the parsed JSON `document` describes, or None when it is not of the
    plain shape."""
    if type(document) is not dict:
        return None
    fields: dict[str, Any] = {}
    occurred_at = attributes = None
    for key, value in document.items():
        if key in _TEXT_FIELDS:
            if type(value) is not str or not _storable(value):
                return None
            fields[key] = value
        elif key == "identities":
            if type(value) is not list or not all(_plain_identity(i) for i in value):
                return None
            fields[key] = [events_pb2.Identity(**i) for i in value]
        elif key == "occurred_at":
            if type(value) is not str or not _storable(value):
                return None
            occurred_at = value
        elif key == "attributes":
            if type(value) is not dict or not _plain_struct(value):
                return None
            attributes = value
        elif key == "csat":
            if type(value) is not int or not -_INT32 <= value < _INT32:
                return None
            fields[key] = value
        else:
            return None
    try:
        event = events_pb2.ContactEvent(**fields)
        if occurred_at is not None:
            event.occurred_at.FromJsonString(occurred_at)
        if attributes is not None:
            event.attributes.SetInParent()  # present even when empty, as ParseDict leaves it
            event.attributes.update(attributes)
    except (ValueError, TypeError):
        return None  # the general path says what is wrong
    return event


def _storable(text: str) -> bool:
    return text_problem(text) is None


def _plain_identity(item: Any) -> bool:
    return (
        type(item) is dict
        and item.keys() <= _IDENTITY_FIELDS
        and all(type(v) is str and _storable(v) for v in item.values())
    )


def _plain_struct(value: dict[str, Any], depth: int = 0) -> bool:
    return depth < 32 and all(_storable(k) and _plain_value(v, depth + 1) for k, v in value.items())


def _plain_value(value: Any, depth: int) -> bool:
    kind = type(value)
    if kind is str:
        return _storable(value)
    if kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_EXACT_INT <= value <= _EXACT_INT)
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        return _plain_struct(value, depth)
    if kind is list:
        return depth < 32 and all(_plain_value(v, depth + 1) for v in value)
    return False
