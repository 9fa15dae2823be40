import json

import pytest

from tests.builders import event_json
from ticketrouter.adapters.codec import InvalidEvent, decode, encode_decision, parse_event
from ticketrouter.domain.channels import Channel

VALID = event_json(
    "e1",
    [("email", "Ana.Lopez@Example.com"), ("phone", "+1 (415) 555-0100")],
    topic="billing.refund",
    attributes={"order_value": 120.0, "order_id": "1234"},
)


def _bytes(event: dict) -> bytes:  # type: ignore[type-arg]
    return json.dumps(event).encode()


def test_the_design_envelope_decodes_into_a_command() -> None:
    command = decode(_bytes(VALID))
    assert command.event_id == "e1"
    assert command.channel is Channel.EMAIL
    assert [i.value for i in command.identities] == ["ana.lopez@example.com", "+14155550100"]
    assert command.attributes == {"order_value": 120.0, "order_id": "1234"}
    assert command.occurred_at.isoformat() == "2026-11-22T10:00:00+00:00"


def test_binary_protobuf_is_accepted_with_its_content_type() -> None:
    binary = parse_event(_bytes(VALID)).SerializeToString()
    command = decode(binary, "application/x-protobuf")
    assert command.topic == "billing.refund"


def test_camel_case_json_names_are_accepted_as_the_mapping_allows() -> None:
    event = {**VALID, "eventId": "e2", "occurredAt": VALID["occurred_at"]}
    del event["event_id"], event["occurred_at"]
    assert decode(_bytes(event)).event_id == "e2"


@pytest.mark.parametrize(
    ("payload", "reason", "mentions"),
    [
        (b"{not json", "bad_json", "JSON"),
        (_bytes({**VALID, "type": "contact.exploded"}), "unknown_type", "contact.exploded"),
        (_bytes({k: v for k, v in VALID.items() if k != "event_id"}), "missing_field", "event_id"),
        (
            _bytes({k: v for k, v in VALID.items() if k != "occurred_at"}),
            "missing_field",
            "occurred_at",
        ),
        (_bytes({**VALID, "identities": []}), "missing_field", "identities"),
        (_bytes({**VALID, "channel": "pigeon"}), "invalid_value", "channel"),
        (_bytes({**VALID, "occurred_at": "yesterday"}), "invalid_value", "occurred_at"),
        (
            _bytes({**VALID, "identities": [{"kind": "phone", "value": "call me"}]}),
            "invalid_value",
            "identities[0].value",
        ),
        (_bytes({**VALID, "topic": "Not A Topic"}), "invalid_value", "topic"),
        (_bytes({**VALID, "attributes": [1, 2]}), "invalid_value", "attributes"),
        (b'{"event_id": 5}', "invalid_value", "event_id"),
        (b"x" * 300_000, "too_large", "bytes"),
        (b"\xff\xfe", "bad_json", ""),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_invalid_events_are_rejected_with_a_reason_naming_the_field(
    payload: bytes, reason: str, mentions: str
) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(payload)
    assert err.value.reason == reason
    assert mentions in err.value.detail


def test_garbage_protobuf_is_rejected() -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(b"\x0a\xff\xff\xff", "application/x-protobuf")
    assert err.value.reason == "bad_protobuf"


def test_decisions_are_published_in_the_json_mapping(uow_decision) -> None:  # type: ignore[no-untyped-def]
    payload = json.loads(encode_decision(uow_decision))
    assert payload["outcome"] == "assigned"
    assert payload["explanation"]["rule"] == "default"
    assert payload["decided_at"].endswith("Z")


@pytest.fixture
def uow_decision():  # type: ignore[no-untyped-def]
    from tests.builders import agent, contact, rules
    from tests.fakes import FakeUnitOfWork
    from ticketrouter.service_layer.intake import handle_events
    from ticketrouter.service_layer.settings import RoutingSettings

    uow = FakeUnitOfWork()
    uow.repo.agents["a"] = agent("a")
    with uow:
        [decision] = handle_events(
            [contact(("email", "x@y.com"))],
            uow,
            contact(("email", "x@y.com")).occurred_at,
            RoutingSettings(rules()),
        )
    return decision


def test_the_other_event_types_decode_into_their_commands() -> None:
    from ticketrouter.domain.commands import (
        AbandonContact,
        EndContact,
        RecordMessage,
        RecordSurvey,
        UpdateCustomer,
    )

    base = {"occurred_at": "2026-11-22T10:00:00Z"}
    message = decode(
        _bytes(
            {
                **base,
                "event_id": "m",
                "type": "contact.message",
                "channel": "chat",
                "case_id": "c1",
                "text": "one more thing",
            }
        )
    )
    assert isinstance(message, RecordMessage) and message.case_id == "c1"
    survey = decode(
        _bytes({**base, "event_id": "s", "type": "survey.completed", "case_id": "c1", "csat": 4})
    )
    assert isinstance(survey, RecordSurvey) and survey.csat == 4
    for kind, command in (("contact.abandoned", AbandonContact), ("contact.ended", EndContact)):
        ending = decode(_bytes({**base, "event_id": "x", "type": kind, "contactId": "call-1"}))
        assert ending == command("x", survey.occurred_at, "call-1")
    update = decode(
        _bytes(
            {
                **base,
                "event_id": "u",
                "type": "customer.updated",
                "tier": "gold",
                "identities": [{"kind": "email", "value": "A@B.com"}],
                "offers": [
                    {
                        "code": "VIP10",
                        "description": "10% off",
                        "expires_at": "2026-12-31T00:00:00Z",
                    },
                    {"code": "FREESHIP"},
                ],
            }
        )
    )
    assert isinstance(update, UpdateCustomer) and update.identities[0].value == "a@b.com"
    assert [(o.code, o.expires_at is not None) for o in update.offers] == [
        ("VIP10", True),
        ("FREESHIP", False),
    ]


@pytest.mark.parametrize(
    ("event", "mentions"),
    [
        ({"type": "survey.completed", "case_id": "c1", "csat": 9}, "csat"),
        ({"type": "survey.completed", "csat": 3}, "case_id"),
        ({"type": "contact.message", "channel": "chat"}, "case_id"),
        ({"type": "contact.ended"}, "contact_id"),
        ({"type": "contact.abandoned", "contact_id": "  "}, "contact_id"),
        ({"type": "contact.abandoned", "contact_id": "c" * 129}, "contact_id"),
        ({"type": "customer.updated"}, "identities"),
        (
            {
                "type": "customer.updated",
                "identities": [{"kind": "email", "value": "a@b.com"}],
                "offers": [{"code": "10% off!"}],
            },
            "offers[0].code",
        ),
    ],
)
def test_the_other_event_types_are_validated(event: dict, mentions: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidEvent) as err:
        decode(_bytes({"event_id": "x", "occurred_at": "2026-11-22T10:00:00Z", **event}))
    assert mentions in err.value.detail


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_number_json_cannot_carry_is_invalid_naming_its_path(number: str) -> None:
    # json.dumps cannot write these, so the raw text is spliced in as a producer might.
    plain = {k: v for k, v in VALID.items() if k != "attributes"}
    raw = _bytes(plain)[:-1] + f', "attributes": {{"order": {{"value": {number}}}}}}}'.encode()
    with pytest.raises(InvalidEvent) as err:
        decode(raw)
    assert err.value.reason == "invalid_value"
    assert err.value.detail.startswith("attributes.order.value:")


def test_a_nan_in_binary_protobuf_is_invalid() -> None:
    event = parse_event(_bytes(VALID))
    event.attributes["order_value"] = float("nan")
    with pytest.raises(InvalidEvent, match=r"attributes\.order_value"):
        decode(event.SerializeToString(), "application/x-protobuf")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({**VALID, "subject": "charged\u0000twice"}, "subject"),
        ({**VALID, "event_id": "e\u00001"}, "event_id"),
        ({**VALID, "identities": [{"kind": "email", "value": "a\u0000@b.com"}]}, "identities[0]"),
        ({**VALID, "attributes": {"note": ["ok", "b\u0000d"]}}, "attributes.note[1]"),
    ],
)
def test_a_nul_that_postgresql_refuses_is_invalid_on_every_database(
    event: dict,  # type: ignore[type-arg]
    field: str,
) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(_bytes(event))
    assert err.value.reason == "invalid_value"
    assert err.value.detail.startswith(field)
    assert "NUL" in err.value.detail
