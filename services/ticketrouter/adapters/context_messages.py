"""The customer's context and identity audit as protobuf messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ticketrouter.adapters.messages import contact_to_proto, set_time
from ticketrouter.domain.context import CaseSummary, ContextPacket
from ticketrouter.domain.customers import Offer
from ticketrouter.domain.merging import IdentityConflict, Merge
from ticketrouter.v1 import customers_pb2, events_pb2


def context_to_proto(packet: ContextPacket) -> events_pb2.ContextPacket:
    message = events_pb2.ContextPacket(
        customer_id=packet.customer_id,
        display_name=packet.display_name,
        tier=packet.tier,
        language=packet.language,
    )
    for target, cases in (
        (message.open_cases, packet.open_cases),
        (message.previous_cases, packet.previous_cases),
    ):
        target.extend(_case_summary(c) for c in cases)
    message.recent_contacts.extend(contact_to_proto(c) for c in packet.recent_contacts)
    if packet.last_agent is not None:
        message.last_agent_id = packet.last_agent.agent_id
        message.last_agent_case_id = packet.last_agent.case_id
        message.last_agent_outcome = packet.last_agent.outcome
    for case_id, score in packet.recent_csat:
        message.recent_csat.add(case_id=case_id, score=score)
    for note in packet.notes:
        set_time(message.notes.add(case_id=note.case_id, text=note.text).at, note.at)
    message.offers.extend(offer_to_proto(o) for o in packet.offers)
    return message


def _case_summary(case: CaseSummary) -> events_pb2.CaseSummary:
    message = events_pb2.CaseSummary(
        case_id=case.case_id,
        topic=case.topic,
        status=case.status,
        owner_agent_id=case.owner_agent_id or "",
        resolution_code=case.resolution_code,
    )
    set_time(message.opened_at, case.opened_at)
    return message


def offer_to_proto(offer: Offer) -> events_pb2.CustomerOffer:
    message = events_pb2.CustomerOffer(code=offer.code, description=offer.description)
    set_time(message.expires_at, offer.expires_at)
    return message


def merge_to_proto(merge: Merge) -> customers_pb2.MergeRecord:
    message = customers_pb2.MergeRecord(
        surviving_customer_id=merge.survivor_id,
        merged_customer_id=merge.merged_id,
        event_id=merge.event_id,
        actor=merge.actor,
        reason=merge.reason,
    )
    set_time(message.merged_at, merge.at)
    return message


def conflict_to_proto(conflict: IdentityConflict) -> customers_pb2.IdentityConflict:
    message = customers_pb2.IdentityConflict(
        event_id=conflict.event_id,
        customer_ids=list(conflict.customer_ids),
        reason=conflict.reason.value,
    )
    for identity in conflict.identities:
        message.identities.add(kind=identity.kind.value, value=identity.value)
    set_time(message.at, conflict.at)
    return message


# --- the same packet as the protobuf JSON mapping, built directly -------------------
# Every decision on `routing-decisions` carries a packet; json_format walks messages
# field by field in Python, which cost a fifth of the worker's time. The unit tests
# hold this to json_format's output (proto field names, defaults omitted).


def context_to_json(packet: ContextPacket) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "customer_id": packet.customer_id,
        "display_name": packet.display_name,
        "tier": packet.tier,
        "language": packet.language,
        "open_cases": [_case_json(c) for c in packet.open_cases],
        "previous_cases": [_case_json(c) for c in packet.previous_cases],
        "recent_contacts": [
            present(
                {
                    "event_id": c.event_id,
                    "case_id": c.case_id,
                    "channel": c.channel.value,
                    "topic": c.topic,
                    "subject": c.subject,
                    "occurred_at": timestamp_json(c.occurred_at),
                    "outcome": c.outcome,
                }
            )
            for c in packet.recent_contacts
        ],
        "recent_csat": [
            present({"case_id": case_id, "score": score}) for case_id, score in packet.recent_csat
        ],
        "notes": [
            present({"case_id": n.case_id, "at": timestamp_json(n.at), "text": n.text})
            for n in packet.notes
        ],
        "offers": [
            present(
                {
                    "code": o.code,
                    "description": o.description,
                    "expires_at": timestamp_json(o.expires_at),
                }
            )
            for o in packet.offers
        ],
    }
    if packet.last_agent is not None:
        fields["last_agent_id"] = packet.last_agent.agent_id
        fields["last_agent_case_id"] = packet.last_agent.case_id
        fields["last_agent_outcome"] = packet.last_agent.outcome
    return present(fields)


def _case_json(case: CaseSummary) -> dict[str, Any]:
    return present(
        {
            "case_id": case.case_id,
            "topic": case.topic,
            "status": case.status,
            "owner_agent_id": case.owner_agent_id or "",
            "opened_at": timestamp_json(case.opened_at),
            "resolution_code": case.resolution_code,
        }
    )


def present(fields: dict[str, Any]) -> dict[str, Any]:
    """proto3 JSON leaves out fields at their default value. (It keeps a message
    that is set even when empty; none of the messages built here ever is.)"""
    return {k: v for k, v in fields.items() if v is not None and v not in ("", 0, [], {})}


def timestamp_json(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with 0, 3 or 6 fractional digits, as json_format writes it."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    micros = value.microsecond
    if micros == 0:
        return text + "Z"
    if micros % 1000 == 0:
        return f"{text}.{micros // 1000:03d}Z"
    return f"{text}.{micros:06d}Z"
