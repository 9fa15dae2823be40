"""`events publish` keys: an event that ends a contact follows that contact's key,
so it cannot reach another partition and overtake the contact it ends."""

from __future__ import annotations

import json

from ticketrouter.adapters.codec import decode_noting
from ticketrouter.domain.commands import EventCommand
from ticketrouter.entrypoints.events_publish import PartitionKeys

MAX_BYTES = 1_000_000


def command(event: dict[str, object]) -> EventCommand:
    return decode_noting(json.dumps(event).encode(), None, "US", MAX_BYTES).command


def received(event_id: str, email: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "type": "contact.received",
        "occurred_at": "2026-12-01T10:00:00Z",
        "channel": "voice",
        "topic": "general.question",
        "identities": [{"kind": "email", "value": email}],
    }


def over(event_id: str, kind: str, contact_id: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "type": kind,
        "occurred_at": "2026-12-01T10:05:00Z",
        "contact_id": contact_id,
    }


def test_a_contact_ending_is_keyed_like_the_contact_it_ends() -> None:
    keys = PartitionKeys()
    assert keys.key_of(command(received("c1", "Ana@Example.com"))) == b"email:ana@example.com"
    assert keys.key_of(command(received("c2", "bo@example.com"))) == b"email:bo@example.com"
    assert keys.key_of(command(over("e1", "contact.abandoned", "c1"))) == (b"email:ana@example.com")
    assert keys.key_of(command(over("e2", "contact.ended", "c2"))) == b"email:bo@example.com"


def test_a_contact_not_in_the_input_is_keyed_by_its_own_id() -> None:
    # Not every such event on one empty key (one partition for all of them).
    keys = PartitionKeys()
    assert keys.key_of(command(over("e1", "contact.ended", "c9"))) == b"contact:c9"
    assert keys.key_of(command(over("e2", "contact.abandoned", "c8"))) == b"contact:c8"
