"""The event contract ignores fields it does not know, and says which they were: a
producer a release ahead must not lose every event to the DLQ, and a typo in an
optional field must not vanish without a trace."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.builders import event_json
from ticketrouter.adapters.codec import InvalidEvent, decode_noting, unknown_fields
from ticketrouter.domain.commands import ReceiveContact, UpdateCustomer
from ticketrouter.v1 import events_pb2

EVENT = events_pb2.ContactEvent.DESCRIPTOR


def encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_a_valid_event_has_no_unknown_fields() -> None:
    decoded = decode_noting(encoded(event_json("e1", [("email", "a@x.com")])))
    assert isinstance(decoded.command, ReceiveContact)
    assert (decoded.event_type, decoded.unknown_fields) == ("contact.received", ())


def test_unknown_fields_are_named_at_every_level_and_ignored() -> None:
    document = event_json("e1", [("email", "a@x.com")], attributes={"colour": "free-form"})
    document["colour"] = "blue"
    document["identities"][0]["knd"] = "email"
    decoded = decode_noting(encoded(document))
    assert sorted(decoded.unknown_fields) == ["colour", "identities[0].knd"]
    assert isinstance(decoded.command, ReceiveContact)
    assert decoded.command.attributes == {"colour": "free-form"}, "Struct contents are free"


def test_json_names_and_field_names_are_both_known() -> None:
    document = {
        "eventId": "u1",
        "type": "customer.updated",
        "occurredAt": "2026-11-22T10:00:00Z",
        "identities": [{"kind": "email", "value": "a@x.com"}],
        "display_name": "Ana",
        "offers": [{"code": "GOLD", "expiresAt": "2026-12-01T00:00:00Z", "colour": "x"}],
    }
    decoded = decode_noting(encoded(document))
    assert isinstance(decoded.command, UpdateCustomer)
    assert decoded.unknown_fields == ("offers[0].colour",)


def test_a_non_object_is_not_walked() -> None:
    assert unknown_fields(["not", "an", "object"], EVENT) == ()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"event_id": "a", "event_id": "b"}', "bad_json"),  # as json_format.Parse says
        (b"\xff\xfe", "bad_json"),
        (b'{"identities": "not a list"}', "invalid_value"),
        (b'{"occurred_at": "yesterday"}', "invalid_value"),
    ],
)
def test_refusals_keep_their_reasons(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as refused:
        decode_noting(payload)
    assert refused.value.reason == reason
