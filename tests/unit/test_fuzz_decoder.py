"""Fuzzing the Kafka edge. Whatever bytes arrive, decoding returns a valid command or
raises InvalidEvent with a reason from its closed set: any other exception would
stop the worker on one poisoned message instead of dead-lettering it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import event_json
from ticketrouter.adapters.codec import (
    KNOWN_TYPES,
    MAX_IDENTITIES,
    PROTOBUF_CONTENT_TYPE,
    InvalidEvent,
    decode,
    parse_event,
)
from ticketrouter.domain.commands import (
    AbandonContact,
    EndContact,
    EventCommand,
    ReceiveContact,
    RecordMessage,
    RecordSurvey,
    UpdateCustomer,
)

# Raised by decode(); `unknown_reference` comes later, from the domain.
DECODE_REASONS = frozenset(
    {"too_large", "bad_json", "bad_protobuf", "unknown_type", "missing_field", "invalid_value"}
)
FUZZ = settings(max_examples=300, deadline=None)

VALID = event_json(
    "e1",
    [("email", "Ana.Lopez@Example.com"), ("phone", "+1 (415) 555-0100")],
    topic="billing.refund",
    attributes={"order_value": 120.0, "order_id": "1234"},
)
FIELDS = (
    "event_id",
    "type",
    "occurred_at",
    "channel",
    "identities",
    "topic",
    "subject",
    "text",
    "language",
    "attributes",
    "case_id",
    "contact_id",
    "csat",
    "display_name",
    "tier",
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "",
            "email",
            "chat",
            "phone",
            "contact.received",
            "contact.message",
            "survey.completed",
            "customer.updated",
            "contact.abandoned",
            "contact.ended",
            "2026-11-22T10:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "+1 (415) 555-0100",
            "a@b.co",
            "\x00",
            "\ud800",
        ]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.sampled_from(FIELDS), children, max_size=4)
    ),
    max_leaves=16,
)
identity = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["email", "phone", "chat", "social", "loyalty", "account", "x"])
        | json_scalars,
        "value": json_scalars,
    },
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": json_scalars,
        "type": st.sampled_from(sorted(KNOWN_TYPES)) | json_scalars,
        "occurred_at": json_scalars,
        "channel": json_scalars,
        "identities": st.lists(identity, max_size=MAX_IDENTITIES + 2) | json_values,
        "topic": json_scalars,
        "language": st.sampled_from(["en", "en-GB", "pt-br", "EN", "x"]) | json_scalars,
        "attributes": json_values,
        "case_id": json_scalars,
        "contact_id": json_scalars,
        "csat": json_scalars,
        "display_name": json_scalars,
    },
)


def _dumps(value: Any) -> bytes:
    # NaN/Infinity literals and lone surrogates are what a careless producer sends.
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def assert_valid_or_rejected(payload: bytes, content_type: str | None = None) -> None:
    try:
        command = decode(payload, content_type)
    except InvalidEvent as err:
        assert err.reason in DECODE_REASONS, err.reason
        assert err.detail
        return
    assert_valid_command(command)


def assert_valid_command(command: EventCommand) -> None:
    assert isinstance(
        command,
        ReceiveContact
        | RecordMessage
        | RecordSurvey
        | UpdateCustomer
        | AbandonContact
        | EndContact,
    )
    assert 0 < len(command.event_id) <= 128
    assert command.occurred_at.tzinfo is not None
    if isinstance(command, ReceiveContact):
        assert 1 <= len(command.identities) <= MAX_IDENTITIES
        assert command.topic
        assert isinstance(command.attributes, dict)
    if isinstance(command, RecordSurvey):
        assert 1 <= command.csat <= 5
    if isinstance(command, RecordMessage | RecordSurvey):
        assert command.case_id
    if isinstance(command, AbandonContact | EndContact):
        assert len(command.contact_id.strip()) > 0 and len(command.contact_id) <= 128


@FUZZ
@given(payload=st.binary(max_size=2048), protobuf=st.booleans())
def test_arbitrary_bytes(payload: bytes, protobuf: bool) -> None:
    assert_valid_or_rejected(payload, PROTOBUF_CONTENT_TYPE if protobuf else None)


@FUZZ
@given(document=json_values)
def test_arbitrary_json(document: Any) -> None:
    assert_valid_or_rejected(_dumps(document))


@FUZZ
@given(document=event_like)
def test_event_shaped_json(document: dict[str, Any]) -> None:
    assert_valid_or_rejected(_dumps(document))


@FUZZ
@given(
    removed=st.sets(st.sampled_from(sorted(VALID))),
    replaced=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3),
)
def test_a_valid_event_with_fields_removed_or_replaced(
    removed: set[str], replaced: dict[str, Any]
) -> None:
    event = {k: v for k, v in VALID.items() if k not in removed} | replaced
    assert_valid_or_rejected(_dumps(event))


@FUZZ
@given(data=st.data(), protobuf=st.booleans())
def test_a_valid_event_with_its_bytes_mutated(data: st.DataObject, protobuf: bool) -> None:
    original = parse_event(_dumps(VALID)).SerializeToString() if protobuf else _dumps(VALID)
    payload = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(payload)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "insert" or at == len(payload):
            payload[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif action == "flip":
            payload[at] ^= data.draw(st.integers(1, 255))
        else:
            del payload[at : at + data.draw(st.integers(1, 8))]
    assert_valid_or_rejected(bytes(payload), PROTOBUF_CONTENT_TYPE if protobuf else None)


def test_deep_nesting_is_rejected_not_a_crash() -> None:
    for payload in (b"[" * 100_000, b'{"attributes":' + b'{"a":' * 5_000 + b"1" + b"}" * 5_001):
        assert_valid_or_rejected(payload)
