"""The context packet: what an agent needs to know before saying hello, so the
customer never repeats themselves ("know me").

It travels with every routing decision, so it is bounded: the last N of each list,
texts cut short. The adapters read at most N rows per list and customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ticketrouter.domain.cases import CLOSED_STATUSES, Case, CaseStatus
from ticketrouter.domain.customers import Contact, Customer, Offer


@dataclass(frozen=True, slots=True)
class ContextLimits:
    contacts: int = 5
    cases: int = 5  # open cases, and separately closed ones
    notes: int = 5
    csat: int = 3
    offers: int = 5
    text_chars: int = 200

    def __post_init__(self) -> None:
        for name in ("contacts", "cases", "notes", "csat", "offers", "text_chars"):
            if not 0 <= getattr(self, name) <= 1000:
                raise ValueError(f"context limit {name} must be between 0 and 1000")


@dataclass(frozen=True, slots=True)
class CaseSummary:
    case_id: str
    topic: str
    status: str
    owner_agent_id: str | None
    opened_at: datetime
    resolution_code: str = ""


@dataclass(frozen=True, slots=True)
class NoteSummary:
    case_id: str
    at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class LastAgent:
    agent_id: str
    case_id: str
    outcome: str  # the case's resolution code once resolved, else its status


@dataclass(frozen=True, slots=True)
class ContextPacket:
    customer_id: str
    display_name: str = ""
    tier: str = ""
    language: str = ""
    open_cases: tuple[CaseSummary, ...] = ()
    previous_cases: tuple[CaseSummary, ...] = ()
    recent_contacts: tuple[Contact, ...] = ()
    last_agent: LastAgent | None = None
    recent_csat: tuple[tuple[str, int], ...] = ()  # (case_id, score), most recent first
    notes: tuple[NoteSummary, ...] = ()
    offers: tuple[Offer, ...] = ()
    # The agents of the most recent cases, so that the packet of one case can name the
    # agent the customer dealt with before it (not the one just given the case).
    recent_agents: tuple[LastAgent, ...] = ()

    def for_case(self, case_id: str) -> ContextPacket:
        before = next((a for a in self.recent_agents if a.case_id != case_id), None)
        return replace(self, last_agent=before)


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """The facts of a case the packet needs (cheaper to read than a whole Case)."""

    case_id: str
    topic: str
    status: CaseStatus
    owner_agent_id: str | None
    opened_at: datetime
    assigned_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution_code: str = ""
    csat: int | None = None

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES

    @classmethod
    def of(cls, case: Case) -> CaseRecord:
        return cls(
            case.case_id,
            case.topic,
            case.status,
            case.owner_agent_id,
            case.opened_at,
            case.assigned_at,
            case.resolved_at,
            case.resolution_code,
            case.csat,
        )


@dataclass(frozen=True, slots=True)
class ContextSources:
    """Rows read for one customer; each list already limited by the reader."""

    customer: Customer
    cases: Sequence[CaseRecord]
    contacts: Sequence[Contact]
    notes: Sequence[NoteSummary]
    offers: Sequence[Offer]


def build_packet(sources: ContextSources, limits: ContextLimits, now: datetime) -> ContextPacket:
    customer = sources.customer
    recent_first = sorted(sources.cases, key=_last_activity, reverse=True)
    open_cases = [c for c in recent_first if c.is_open][: limits.cases]
    closed = [c for c in recent_first if not c.is_open][: limits.cases]
    agents = tuple(a for c in recent_first if (a := _last_agent(c)) is not None)[:2]
    cut = limits.text_chars
    return ContextPacket(
        customer_id=customer.customer_id,
        display_name=customer.display_name,
        tier=customer.tier,
        language=customer.language,
        open_cases=tuple(_summary(c) for c in open_cases),
        previous_cases=tuple(_summary(c) for c in closed),
        recent_contacts=tuple(
            _shorter(c, cut)
            for c in sorted(sources.contacts, key=lambda c: c.occurred_at, reverse=True)[
                : limits.contacts
            ]
        ),
        last_agent=agents[0] if agents else None,
        recent_csat=tuple((c.case_id, c.csat) for c in recent_first if c.csat is not None)[
            : limits.csat
        ],
        notes=tuple(
            NoteSummary(n.case_id, n.at, n.text[:cut])
            for n in sorted(sources.notes, key=lambda n: n.at, reverse=True)[: limits.notes]
        ),
        offers=tuple(_active(sources.offers, now))[: limits.offers],
        recent_agents=agents,
    )


def _last_activity(case: CaseRecord) -> datetime:
    return max(t for t in (case.opened_at, case.assigned_at, case.resolved_at) if t is not None)


def _summary(case: CaseRecord) -> CaseSummary:
    return CaseSummary(
        case.case_id,
        case.topic,
        case.status.value,
        case.owner_agent_id,
        case.opened_at,
        case.resolution_code,
    )


def _last_agent(case: CaseRecord | None) -> LastAgent | None:
    if case is None or case.owner_agent_id is None:
        return None
    outcome = case.resolution_code if not case.is_open and case.resolution_code else None
    return LastAgent(case.owner_agent_id, case.case_id, outcome or case.status.value)


def _shorter(contact: Contact, chars: int) -> Contact:
    if len(contact.subject) <= chars:
        return contact
    return replace(contact, subject=contact.subject[:chars])


def _active(offers: Iterable[Offer], now: datetime) -> list[Offer]:
    # Soonest to expire first: those are the ones worth mentioning today.
    live = [o for o in offers if o.active_at(now)]
    return sorted(live, key=lambda o: (o.expires_at is None, o.expires_at or now, o.code))
