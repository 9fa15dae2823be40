"""Refuse, anywhere in a protobuf message, a value no database of ours can store.

One walk over the fields that are set, for Kafka events and gRPC requests alike, so
a NUL in an email or a NaN deep inside `attributes` is refused at the edge with the
field's path (`identities[1].value`, `attributes.order.value`) instead of failing
a whole batch at commit on PostgreSQL, or in a JSON encoder later.
"""

from __future__ import annotations

import math

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ticketrouter.domain.errors import InvalidField
from ticketrouter.domain.storable import text_problem

_FLOATS = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)
_STRUCTS = ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue")


def check_storable(message: Message, path: str = "") -> None:
    """InvalidField naming the first text with a NUL or a lone surrogate, or the first
    number that is not finite, among the fields set in `message`."""
    transparent = message.DESCRIPTOR.full_name in _STRUCTS
    for field, value in message.ListFields():
        # Struct's own field names (fields, kind...) are not part of the JSON shape.
        name = path if transparent else _join(path, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            _check_map(field, value, name)
        elif field.is_repeated:
            for n, item in enumerate(value):
                _check_scalar_or_message(field, item, f"{name}[{n}]")
        else:
            _check_scalar_or_message(field, value, name)


def _check_map(field: FieldDescriptor, entries: object, name: str) -> None:
    entry = field.message_type
    assert entry is not None  # a map field's entry is a message type
    value_field = entry.fields_by_name["value"]
    for key, item in entries.items():  # type: ignore[attr-defined]
        key_text = str(key)
        problem = text_problem(key_text)
        if problem is not None:
            raise InvalidField(f"{name} key", problem)
        _check_scalar_or_message(value_field, item, _join(name, key_text[:64]))


def _check_scalar_or_message(field: FieldDescriptor, value: object, name: str) -> None:
    if isinstance(value, Message):
        check_storable(value, name)
    elif isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise InvalidField(name, problem)
    elif field.type in _FLOATS and not math.isfinite(value):  # type: ignore[arg-type]
        raise InvalidField(name, f"{value} is not a finite number")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
