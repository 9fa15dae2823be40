"""Commands: validated requests, whichever edge (Kafka or gRPC) they came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.cases import HandoffReason
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.customers import Offer
from ticketrouter.domain.identity import Identity


@dataclass(frozen=True, slots=True)
class ReceiveContact:
    event_id: str
    occurred_at: datetime
    channel: Channel
    identities: tuple[Identity, ...]
    topic: str
    subject: str = ""
    text: str = ""
    language: str = ""
    attributes: Mapping[str, object] = field(default_factory=dict)
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class ResolveCase:
    case_id: str
    resolution_code: str = "resolved"


@dataclass(frozen=True, slots=True)
class TransferCase:
    case_id: str
    reason: HandoffReason
    to_agent_id: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class AcceptOffer:
    case_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class DeclineOffer:
    case_id: str
    agent_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AdvanceQueue:
    """A tick of the clock: fire the routing steps due and expire lapsed offers."""

    limit: int = 100


@dataclass(frozen=True, slots=True)
class MatureResolutions:
    """Count the resolutions whose FCR window has closed (at most `limit` per call)."""

    limit: int = 1000


@dataclass(frozen=True, slots=True)
class AddNote:
    case_id: str
    author: str
    text: str


@dataclass(frozen=True, slots=True)
class UpsertAgent:
    agent: Agent


@dataclass(frozen=True, slots=True)
class SetPresence:
    agent_id: str
    presence: Presence


@dataclass(frozen=True, slots=True)
class RecordMessage:
    """A follow-up message within a contact: joins the case timeline, is not a new contact."""

    event_id: str
    occurred_at: datetime
    channel: Channel
    case_id: str
    subject: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class AbandonContact:
    """contact.abandoned: the customer left before an agent took the contact (hung up
    in the queue, closed the chat window). `contact_id` is the event_id of the
    contact.received that opened the contact."""

    event_id: str
    occurred_at: datetime
    contact_id: str


@dataclass(frozen=True, slots=True)
class EndContact:
    """contact.ended: the interaction is over (the call hung up, the chat closed);
    `contact_id` as for AbandonContact."""

    event_id: str
    occurred_at: datetime
    contact_id: str


@dataclass(frozen=True, slots=True)
class RecordSurvey:
    event_id: str
    occurred_at: datetime
    case_id: str
    csat: int


@dataclass(frozen=True, slots=True)
class UpdateCustomer:
    event_id: str
    occurred_at: datetime
    identities: tuple[Identity, ...]
    display_name: str = ""
    tier: str = ""
    language: str = ""
    offers: tuple[Offer, ...] = ()


@dataclass(frozen=True, slots=True)
class LinkIdentity:
    customer_id: str
    identity: Identity
    actor: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class UnlinkIdentity:
    customer_id: str
    identity: Identity
    actor: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MergeCustomers:
    surviving_customer_id: str
    merged_customer_id: str
    actor: str
    reason: str = ""


# Everything a contact event on Kafka can ask for.
EventCommand = (
    ReceiveContact | RecordMessage | RecordSurvey | UpdateCustomer | AbandonContact | EndContact
)
