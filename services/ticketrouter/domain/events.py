"""Outcomes the handlers report. They are acted on (metrics, publishing,
watchers) only after the transaction that produced them commits."""

from __future__ import annotations

from dataclasses import dataclass

from ticketrouter.domain.cases import HandoffReason, OfferOutcome
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.decisions import Decision
from ticketrouter.domain.merging import ConflictReason
from ticketrouter.domain.surveys import SurveyAnswer


@dataclass(frozen=True, slots=True)
class ContactReceived:
    channel: Channel


@dataclass(frozen=True, slots=True)
class CaseRouted:
    decision: Decision


@dataclass(frozen=True, slots=True)
class HandoffRecorded:
    case_id: str
    reason: HandoffReason
    from_team: str
    to_team: str = ""  # empty: the case went back to the queue


@dataclass(frozen=True, slots=True)
class CaseResolved:
    case_id: str
    channel: Channel  # the case's first channel: FCR is reported where the customer began
    first_contact_resolved: bool
    handoffs: int = 0


@dataclass(frozen=True, slots=True)
class FirstContactRevoked:
    case_id: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class ResolutionMatured:
    """A resolution's FCR window closed: whether it was first-contact resolved is now
    final (no repeat contact can take the credit back)."""

    channel: Channel  # the case's first channel, as for CaseResolved
    first_contact_resolved: bool


@dataclass(frozen=True, slots=True)
class SurveyCounted:
    answer: SurveyAnswer
    replaces: SurveyAnswer | None = None  # the case's earlier answer (see domain.surveys)


@dataclass(frozen=True, slots=True)
class OfferEnded:
    channel: Channel  # the channel the case was offered on
    outcome: OfferOutcome
    seconds: float  # from the offer to its answer (or its lapse)


@dataclass(frozen=True, slots=True)
class ContactAbandoned:
    """The customer left before an agent took the contact, and nobody else of theirs
    waits on the case: it left the queue (or its offer)."""

    channel: Channel  # the abandoned contact's channel
    waited_seconds: float  # from joining the queue to leaving it


@dataclass(frozen=True, slots=True)
class CustomersMerged:
    manual: bool  # an operator's merge rather than the router's


@dataclass(frozen=True, slots=True)
class IdentityConflictReported:
    reason: ConflictReason


Event = (
    ContactReceived
    | CaseRouted
    | HandoffRecorded
    | CaseResolved
    | FirstContactRevoked
    | ResolutionMatured
    | SurveyCounted
    | OfferEnded
    | ContactAbandoned
    | CustomersMerged
    | IdentityConflictReported
)
