"""Contact events in, routing decisions out: the protobuf contract at the Kafka edge.

Decoding never raises anything but InvalidEvent, whose `reason` is a closed set
(it labels the DLQ metric) and whose message names the offending field.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from ticketrouter.adapters.context_messages import (
    context_to_json,
    context_to_proto,
    present,
    timestamp_json,
)
from ticketrouter.adapters.messages import explanation_to_proto
from ticketrouter.adapters.plain_events import plain_event
from ticketrouter.adapters.proto_values import check_storable
from ticketrouter.domain.channels import parse_channel
from ticketrouter.domain.commands import (
    AbandonContact,
    EndContact,
    EventCommand,
    ReceiveContact,
    RecordMessage,
    RecordSurvey,
    UpdateCustomer,
)
from ticketrouter.domain.customers import Offer
from ticketrouter.domain.decisions import Decision, Explanation
from ticketrouter.domain.errors import InvalidField
from ticketrouter.domain.identity import Identity, normalise_identity
from ticketrouter.v1 import events_pb2

MAX_EVENT_BYTES = 256 * 1024
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
CONTACT_RECEIVED = "contact.received"
CONTACT_MESSAGE = "contact.message"
SURVEY_COMPLETED = "survey.completed"
CUSTOMER_UPDATED = "customer.updated"
CONTACT_ABANDONED = "contact.abandoned"
CONTACT_ENDED = "contact.ended"
KNOWN_TYPES = frozenset(
    {
        CONTACT_RECEIVED,
        CONTACT_MESSAGE,
        SURVEY_COMPLETED,
        CUSTOMER_UPDATED,
        CONTACT_ABANDONED,
        CONTACT_ENDED,
    }
)
MAX_IDENTITIES = 20
MAX_OFFERS = 20
_OFFER_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,63}$")
_TOPIC = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,127}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class InvalidEvent(Exception):
    """Reasons: too_large, bad_json, bad_protobuf, unknown_type, missing_field, invalid_value
    (and, decided later: unknown_reference for a case the event names that does not
    exist, processing_error for an event that fails on its own for another reason)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_event(
    payload: bytes, content_type: str | None = None, max_bytes: int = MAX_EVENT_BYTES
) -> events_pb2.ContactEvent:
    """Checks the size before anything else, so no decoder ever sees a huge payload."""
    return parse_event_noting(payload, content_type, max_bytes)[0]


def parse_event_noting(
    payload: bytes, content_type: str | None = None, max_bytes: int = MAX_EVENT_BYTES
) -> tuple[events_pb2.ContactEvent, tuple[str, ...]]:
    """The event, and the JSON fields it carried that the contract does not know.

    Unknown fields are ignored, not refused: a producer one release ahead of the
    router (a new optional field) must not send every event to the DLQ. They are
    returned so the caller counts and logs them, so a typo in an optional field
    (`"colour"`, `"langauge"`) is seen rather than lost without a trace."""
    event, unknown, _ = _parse(payload, content_type, max_bytes)
    return event, unknown


def _parse(
    payload: bytes, content_type: str | None, max_bytes: int
) -> tuple[events_pb2.ContactEvent, tuple[str, ...], bool]:
    """parse_event_noting, and whether the event is known to be storable already."""
    if len(payload) > max_bytes:
        raise InvalidEvent("too_large", f"{len(payload)} bytes > {max_bytes}")
    event = events_pb2.ContactEvent()
    if content_type == PROTOBUF_CONTENT_TYPE:
        try:
            event.ParseFromString(payload)
        except DecodeError as err:
            raise InvalidEvent("bad_protobuf", str(err)) from None
        return event, (), False
    # json_format.Parse, in its two steps, so the document can be checked for
    # unknown fields before they are dropped (same errors, same reasons).
    try:
        document = json.loads(payload.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise InvalidEvent("bad_json", f"Failed to load JSON: {err}."[:300]) from None
    plain = plain_event(document)
    if plain is not None:
        return plain, (), True
    try:
        json_format.ParseDict(document, event, ignore_unknown_fields=True)
    except json_format.ParseError as err:
        raise InvalidEvent("invalid_value", str(err)[:300]) from None
    except Exception as err:  # ParseDict's own conversions (as Parse wraps them)
        raise InvalidEvent("invalid_value", f"{type(err).__name__}: {err}"[:300]) from None
    return event, unknown_fields(document, events_pb2.ContactEvent.DESCRIPTOR), False


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate key {name}")
        result[name] = value
    return result


def unknown_fields(document: Any, descriptor: Any, path: str = "") -> tuple[str, ...]:
    """Paths of the keys in `document` that no field of `descriptor` accepts (by its
    name or its JSON name), in nested and repeated messages too; free-form values
    (Struct, Timestamp and other well-known types, maps) are not looked into."""
    if not isinstance(document, dict):
        return ()
    accepted = _accepted_keys(descriptor)
    found: list[str] = []
    for key, value in document.items():
        if key not in accepted:
            found.append(f"{path}{key}"[:100])
            continue
        nested = accepted[key]
        if nested is None:
            continue
        if isinstance(value, list):
            for n, item in enumerate(value):
                found.extend(unknown_fields(item, nested, f"{path}{key}[{n}]."))
        else:
            found.extend(unknown_fields(value, nested, f"{path}{key}."))
    return tuple(found)


@functools.cache
def _accepted_keys(descriptor: Any) -> dict[str, Any]:
    """Every key a message accepts in JSON, with the message to look into under it
    (None for scalars, well-known types and maps): worked out once per message type,
    not once per event."""
    keys: dict[str, Any] = {}
    for field in descriptor.fields:
        nested = field.message_type
        if nested is not None and (
            nested.full_name.startswith("google.protobuf.") or nested.GetOptions().map_entry
        ):
            nested = None
        keys[field.name] = keys[field.json_name] = nested
    return keys


def to_command(
    event: events_pb2.ContactEvent, default_region: str = "US", storable: bool = False
) -> EventCommand:
    """Validate a decoded event into a command; InvalidEvent names the field.
    `storable`: the event is known to hold nothing a database cannot store."""
    try:
        if not storable:
            check_storable(event)
        return _to_command(event, default_region)
    except InvalidField as err:
        raise InvalidEvent("invalid_value", str(err)) from None


def _to_command(event: events_pb2.ContactEvent, region: str) -> EventCommand:
    _require(event.event_id, "event_id")
    if len(event.event_id) > 128:
        raise InvalidField("event_id", "longer than 128 characters")
    _require(event.type, "type")
    if event.type not in KNOWN_TYPES:
        known = ", ".join(sorted(KNOWN_TYPES))
        raise InvalidEvent("unknown_type", f"type {event.type!r} is not one of {known}")
    if not event.HasField("occurred_at"):
        raise InvalidEvent("missing_field", "occurred_at is required")
    try:
        occurred_at = event.occurred_at.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidField("occurred_at", "out of range") from None
    if event.language and not _LANGUAGE.match(event.language):
        raise InvalidField("language", f"{event.language[:32]!r} is not a language tag")
    language = event.language.split("-")[0].lower()
    if event.type == CONTACT_MESSAGE:
        _require(event.channel, "channel")
        _require(event.case_id, "case_id")
        return RecordMessage(
            event.event_id,
            occurred_at,
            parse_channel(event.channel),
            event.case_id,
            event.subject[:500],
            event.text[:4000],
        )
    if event.type == SURVEY_COMPLETED:
        _require(event.case_id, "case_id")
        if not 1 <= event.csat <= 5:
            raise InvalidField("csat", f"must be 1..5, got {event.csat}")
        return RecordSurvey(event.event_id, occurred_at, event.case_id, event.csat)
    if event.type in (CONTACT_ABANDONED, CONTACT_ENDED):
        _require(event.contact_id, "contact_id")
        if len(event.contact_id) > 128:
            raise InvalidField("contact_id", "longer than 128 characters")
        ends = AbandonContact if event.type == CONTACT_ABANDONED else EndContact
        return ends(event.event_id, occurred_at, event.contact_id)
    identities = _identities(event, region)
    if event.type == CUSTOMER_UPDATED:
        return UpdateCustomer(
            event.event_id,
            occurred_at,
            identities,
            event.display_name[:200],
            event.tier[:32],
            language,
            _offers(event),
        )
    _require(event.channel, "channel")
    _require(event.topic, "topic")
    if not _TOPIC.match(event.topic):
        raise InvalidField("topic", f"{event.topic[:64]!r} must be lower-case dotted words")
    attributes: dict[str, Any] = (
        json_format.MessageToDict(event.attributes) if event.HasField("attributes") else {}
    )
    return ReceiveContact(
        event_id=event.event_id,
        occurred_at=occurred_at,
        channel=parse_channel(event.channel),
        identities=identities,
        topic=event.topic,
        subject=event.subject[:500],
        text=event.text[:4000],
        language=language,
        attributes=attributes,
        display_name=event.display_name[:200],
    )


def _require(value: str, field: str) -> None:
    # Blank is missing: " " must not become an idempotency key or a case id.
    if not value.strip():
        raise InvalidEvent("missing_field", f"{field} is required")


def _identities(event: events_pb2.ContactEvent, region: str) -> tuple[Identity, ...]:
    if not event.identities:
        raise InvalidEvent("missing_field", "identities must name at least one identity")
    if len(event.identities) > MAX_IDENTITIES:
        raise InvalidField("identities", f"more than {MAX_IDENTITIES}")
    return tuple(
        dict.fromkeys(
            normalise_identity(i.kind, i.value, region, f"identities[{n}]")
            for n, i in enumerate(event.identities)
        )
    )


def _offers(event: events_pb2.ContactEvent) -> tuple[Offer, ...]:
    if len(event.offers) > MAX_OFFERS:
        raise InvalidField("offers", f"more than {MAX_OFFERS}")
    offers = []
    for n, offer in enumerate(event.offers):
        code = offer.code.strip()
        if not _OFFER_CODE.match(code):
            raise InvalidField(f"offers[{n}].code", f"{offer.code[:64]!r} is not an offer code")
        expires_at = None
        if offer.HasField("expires_at"):
            try:
                expires_at = offer.expires_at.ToDatetime(tzinfo=UTC)
            except (ValueError, OverflowError):
                raise InvalidField(f"offers[{n}].expires_at", "out of range") from None
        offers.append(Offer(code, offer.description[:500], expires_at))
    return tuple(offers)


def decode(
    payload: bytes,
    content_type: str | None = None,
    default_region: str = "US",
    max_bytes: int = MAX_EVENT_BYTES,
) -> EventCommand:
    return decode_noting(payload, content_type, default_region, max_bytes).command


@dataclass(frozen=True, slots=True)
class Decoded:
    command: EventCommand
    event_type: str
    unknown_fields: tuple[str, ...]  # ignored (see parse_event_noting)


def decode_noting(
    payload: bytes,
    content_type: str | None = None,
    default_region: str = "US",
    max_bytes: int = MAX_EVENT_BYTES,
) -> Decoded:
    """The command, with the event's type and the unknown fields it carried."""
    event, unknown, storable = _parse(payload, content_type, max_bytes)
    return Decoded(to_command(event, default_region, storable), event.type, unknown)


def decision_to_proto(decision: Decision, with_context: bool = True) -> events_pb2.RoutingDecision:
    message = events_pb2.RoutingDecision(
        decision_id=decision.decision_id,
        event_id=decision.event_id,
        case_id=decision.case_id,
        customer_id=decision.customer_id,
        outcome=decision.outcome.value,
        agent_id=decision.agent_id or "",
        channel=decision.channel.value,
        topic=decision.topic,
        priority=decision.priority,
        explanation=explanation_to_proto(decision.explanation),
    )
    message.decided_at.FromDatetime(decision.decided_at.astimezone(UTC).replace(tzinfo=None))
    if with_context and decision.context is not None:
        message.context.CopyFrom(context_to_proto(decision.context))
    return message


def encode_decision(decision: Decision) -> bytes:
    """The JSON mapping of RoutingDecision, as published on `routing-decisions`:
    built directly from the decision (json_format walks the message field by field
    in Python, a tenth of the worker's time); the unit tests hold the two equal."""
    return json.dumps(decision_to_json(decision), separators=(",", ":")).encode()


def decision_to_json(decision: Decision) -> dict[str, Any]:
    """What json_format.MessageToDict(decision_to_proto(decision),
    preserving_proto_field_name=True) gives: proto field names, defaults left out."""
    fields = present(
        {
            "decision_id": decision.decision_id,
            "event_id": decision.event_id,
            "case_id": decision.case_id,
            "customer_id": decision.customer_id,
            "outcome": decision.outcome.value,
            "agent_id": decision.agent_id or "",
            "channel": decision.channel.value,
            "topic": decision.topic,
            "decided_at": timestamp_json(decision.decided_at),
            "explanation": _explanation_json(decision.explanation),
            "priority": decision.priority,
        }
    )
    if decision.context is not None:
        fields["context"] = context_to_json(decision.context)
    return fields


def _explanation_json(exp: Explanation) -> dict[str, Any]:
    req = exp.requirements
    authority = [
        {"name": need.name, "must_be_true": True}
        if need.must_be_true
        else {"name": need.name, "at_least": float(need.at_least or 0.0)}
        for need in req.authority
    ]
    requirements = present(
        {
            "skills": [
                present({"skill": skill, "min_proficiency": level}) for skill, level in req.skills
            ],
            "authority": authority,
            "language": req.language or "",
            "channel": exp.channel.value,
            "teams": sorted(req.teams),
        }
    )
    return present(
        {
            "rule": exp.rule,
            "requirements": requirements,
            "candidates_considered": exp.candidates_considered,
            "eligible": exp.eligible,
            "excluded_by_reason": dict(exp.excluded_by_reason),
            "winner_reason": exp.winner_reason,
            "summary": exp.summary,
            "policy_version": exp.policy_version,
            "step": exp.step,
            "strategy": exp.strategy,
            "excluded_agents": [
                present({"agent_id": agent, "reason": reason})
                for agent, reason in exp.excluded_agents
            ],
        }
    )
