"""The direct build of plain JSON events agrees with json_format.ParseDict on every
document it accepts, and accepts only documents the general path finds storable;
the worker decodes through it, so a difference would change what routes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketrouter.adapters.codec import InvalidEvent, decode_noting
from ticketrouter.adapters.plain_events import plain_event
from ticketrouter.adapters.proto_values import check_storable
from ticketrouter.v1 import events_pb2

PLAIN = {
    "event_id": "e-1",
    "type": "contact.received",
    "occurred_at": "2026-12-03T10:00:00.250Z",
    "channel": "chat",
    "identities": [{"kind": "email", "value": "Ana@Example.com"}],
    "topic": "billing.refund",
    "subject": "Refund",
    "text": "Where is my refund?",
    "language": "es",
    "attributes": {"order_value": 214.61, "order": {"id": "A1", "items": [1, 2.5, None, True]}},
}

texts = st.text(max_size=8)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
field_values = {
    "event_id": texts | json_scalars,
    "type": st.sampled_from(["contact.received", "survey.completed", "contact.ended"])
    | json_scalars,
    "contact_id": texts | json_scalars,
    "occurred_at": st.sampled_from(
        ["2026-12-03T10:00:00Z", "2026-12-03T10:00:00.5+01:00", "yesterday", "2026-13-40T99:00Z"]
    )
    | json_scalars,
    "channel": st.sampled_from(["chat", "email"]) | json_scalars,
    "identities": st.lists(
        st.dictionaries(st.sampled_from(["kind", "value", "Kind", "extra"]), texts | json_scalars),
        max_size=3,
    )
    | json_values,
    "attributes": st.dictionaries(texts, json_values, max_size=4) | json_values,
    "csat": st.integers(min_value=-(2**33), max_value=2**33) | json_values,
    "eventId": texts,
    "offers": st.lists(st.dictionaries(st.sampled_from(["code", "description"]), texts)),
    "colour": texts,
}
documents = st.fixed_dictionaries(
    {}, optional={name: values for name, values in field_values.items()}
)
# Every field of its plain JSON type, the values anything: what the direct build takes.
plain_documents = st.fixed_dictionaries(
    {},
    optional={
        **{
            name: texts
            for name in ("event_id", "type", "channel", "topic", "subject", "text", "contact_id")
        },
        "occurred_at": st.sampled_from(
            ["2026-12-03T10:00:00Z", "2026-12-03T10:00:00.123456789-05:00", "0001-01-01T00:00:00Z"]
        )
        | texts,
        "identities": st.lists(
            st.dictionaries(st.sampled_from(["kind", "value"]), texts, max_size=2), max_size=3
        ),
        "attributes": st.dictionaries(texts, json_values, max_size=4),
        "csat": st.integers(min_value=-(2**31), max_value=2**31 - 1),
    },
)


def _general(document: dict[str, Any]) -> events_pb2.ContactEvent:
    event = events_pb2.ContactEvent()
    json_format.ParseDict(document, event, ignore_unknown_fields=True)
    return event


def _payload(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()  # non-ASCII as \\u escapes, as Python writes it


def test_a_plain_event_is_built_as_parse_dict_builds_it() -> None:
    built = plain_event(PLAIN)
    assert built is not None
    assert built == _general(PLAIN)
    assert built.HasField("attributes") and built.HasField("occurred_at")


@pytest.mark.parametrize(
    "change",
    [
        {"eventId": "camel"},  # JSON names are for the general path
        {"csat": "5"},  # a number as a string
        {"subject": None},  # null
        {"colour": "red"},  # an unknown field: counted and named there
        {"offers": [{"code": "X"}]},
        {"attributes": {"big": 2**60}},  # not the double a Struct keeps
        {"text": "nul \x00 inside"},  # no database stores these: the general path
        {"subject": "lone \ud800"},  # names the field in its error
        {"attributes": {"order": {"value": math.nan}}},
        {"attributes": {"key \x00": 1}},
    ],
)
def test_anything_unusual_takes_the_general_path(change: dict[str, Any]) -> None:
    document = {**PLAIN, **change}
    assert plain_event(json.loads(_payload(document))) is None


@settings(max_examples=300, deadline=None)
@given(documents | plain_documents, st.booleans())
def test_whatever_the_document_both_paths_agree(document: dict[str, Any], ascii: bool) -> None:
    payload = json.dumps(document, ensure_ascii=ascii).encode("utf-8", "surrogatepass")
    built = plain_event(json.loads(payload))
    if built is None:
        return
    general = _general(json.loads(payload))
    assert built == general
    check_storable(general)  # what the fast path skips must have nothing to refuse


def test_the_worker_decodes_a_plain_event_like_any_other() -> None:
    decoded = decode_noting(_payload(PLAIN))
    assert decoded.unknown_fields == ()
    assert decoded.command.attributes == {
        "order_value": 214.61,
        "order": {"id": "A1", "items": [1.0, 2.5, None, True]},
    }


def test_a_non_finite_attribute_is_still_refused_with_its_path() -> None:
    document = {**PLAIN, "attributes": {"order": {"value": math.inf}}}
    with pytest.raises(InvalidEvent, match=r"attributes\.order\.value"):
        decode_noting(json.dumps(document).encode())
