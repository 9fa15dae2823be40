"""The customer's case: the unit of work, owned by one agent at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ticketrouter.domain.channels import Channel
from ticketrouter.domain.decisions import Explanation
from ticketrouter.domain.errors import ConflictingState, parse_choice
from ticketrouter.domain.plan import Plan
from ticketrouter.domain.requirements import Requirements

# Without aging, priority always wins: one level outweighs any wait (about 300 years).
_NO_AGING_WEIGHT = 1e10
# Live contacts a case remembers: a platform that never ends its contacts (say, emails)
# must not grow a case row without bound; the oldest is forgotten first.
MAX_LIVE_CONTACTS = 20


class CaseStatus(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    PENDING = "pending"  # the contact ended; the case stays open with its owner
    RESOLVED = "resolved"
    ABANDONED = "abandoned"  # the customer left the queue before an agent took it


# A case in these holds no agent and waits for nobody: it is closed.
CLOSED_STATUSES = frozenset({CaseStatus.RESOLVED, CaseStatus.ABANDONED})


class HandoffReason(StrEnum):
    MISSING_SKILL = "missing_skill"
    MISSING_AUTHORITY = "missing_authority"
    LANGUAGE = "language"
    CUSTOMER_REQUEST = "customer_request"
    ESCALATION = "escalation"
    OTHER = "other"


class OfferOutcome(StrEnum):
    """How an offer (a reservation for one agent) ended."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    LAPSED = "lapsed"  # unanswered until it expired
    WITHDRAWN = "withdrawn"  # the agent went away or offline with the offer open


def parse_case_status(value: str) -> CaseStatus:
    return parse_choice(CaseStatus, value, "status", "status")


def parse_handoff_reason(value: str) -> HandoffReason:
    return parse_choice(HandoffReason, value, "reason", "reason")


@dataclass(slots=True)
class Case:
    case_id: str
    customer_id: str
    topic: str
    rule: str
    requirements: Requirements
    priority: int
    status: CaseStatus
    channel: Channel
    first_channel: Channel
    opened_at: datetime
    owner_agent_id: str | None = None
    contact_count: int = 1
    handoff_count: int = 0
    queued_at: datetime | None = None
    assigned_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution_code: str = ""
    first_contact_resolved: bool = False
    csat: int | None = None
    last_decision: Explanation | None = None
    version: int = 0
    plan: Plan | None = None  # the policy's plan: base requirements, strategy, steps
    step: int = 0  # routing steps fired while waiting
    offer_expires_at: datetime | None = None
    declined_by: tuple[str, ...] = ()  # agents who declined or let an offer lapse
    # The contacts not yet ended or abandoned, oldest first, as (contact id, channel):
    # the contact id is the event_id of the contact.received that opened it. While the
    # case is offered or assigned it holds one agent slot, on `channel`, for them.
    live_contacts: tuple[tuple[str, Channel], ...] = ()
    # Wrap-up: the owner's slot stays held after the last contact ended, until then.
    slot_held_until: datetime | None = None
    abandoned_at: datetime | None = None

    def queue_rank(self, aging_per_minute: float) -> float:
        """Smaller ranks first. Waiting raises a case by `aging_per_minute` priority levels
        a minute: ordering by priority + rate x waited is ordering by this fixed number,
        so a database can index it (the waiting time cancels out)."""
        since = (self.queued_at or self.opened_at).timestamp()
        if aging_per_minute <= 0:
            return since - self.priority * _NO_AGING_WEIGHT
        return since - self.priority * 60.0 / aging_per_minute

    @property
    def next_step_at(self) -> datetime | None:
        """When the next routing step fires, while the case waits."""
        if self.plan is None or self.queued_at is None or self.status in CLOSED_STATUSES:
            return None
        if self.step >= len(self.plan.steps):
            return None
        return self.queued_at + timedelta(seconds=self.plan.steps[self.step].after_seconds)

    def relax(self, now: datetime) -> bool:
        """Fire the routing steps that are due; True if the requirements changed."""
        if self.plan is None or self.queued_at is None or self.status is not CaseStatus.QUEUED:
            return False
        fired, requirements = self.plan.requirements_after((now - self.queued_at).total_seconds())
        if fired <= self.step:
            return False
        self.step = fired
        self.requirements = requirements
        return True

    def offer(self, agent_id: str, channel: Channel, now: datetime, expires_at: datetime) -> None:
        """Reserve the case for an agent until they accept (it keeps its place in time)."""
        self.owner_agent_id = agent_id
        self.channel = channel
        self.status = CaseStatus.OFFERED
        self.offer_expires_at = expires_at
        self.queued_at = self.queued_at or now

    def offered_for(self, now: datetime, timeout: timedelta) -> float:
        """Seconds since the open offer was made (its expiry less the timeout)."""
        if self.offer_expires_at is None:
            return 0.0
        return max(0.0, (now - (self.offer_expires_at - timeout)).total_seconds())

    def accept(self, agent_id: str, now: datetime) -> None:
        if self.status is not CaseStatus.OFFERED or self.owner_agent_id != agent_id:
            raise ConflictingState(f"case {self.case_id} is not offered to {agent_id}")
        self.assign(agent_id, self.channel, now)

    def withdraw_offer(self, agent_id: str) -> None:
        """Declined or lapsed: back to the queue, never again to that agent; not a
        handoff (the agent never had the case)."""
        if self.status is not CaseStatus.OFFERED or self.owner_agent_id != agent_id:
            raise ConflictingState(f"case {self.case_id} is not offered to {agent_id}")
        self.declined_by = (*self.declined_by, agent_id)
        self.owner_agent_id = None
        self.status = CaseStatus.QUEUED
        self.offer_expires_at = None

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES

    @property
    def holds_slot(self) -> bool:
        """Whether the owner's slot on `channel` is taken for this case: while it is
        offered or assigned, and in pending during the wrap-up after its last contact."""
        if self.status is CaseStatus.PENDING:
            return self.slot_held_until is not None
        return self.status in (CaseStatus.OFFERED, CaseStatus.ASSIGNED)

    def contact_arrived(self, contact_id: str, channel: Channel) -> None:
        """A contact of this case is live until it ends or the customer abandons it."""
        live = (*self.live_contacts, (contact_id, channel))
        self.live_contacts = live[-MAX_LIVE_CONTACTS:]

    def contact_left(self, contact_id: str) -> Channel | None:
        """The contact ended or was abandoned: its channel, or None when it was not
        live (ended before, forgotten, or its case was resolved meanwhile)."""
        for index, (live_id, channel) in enumerate(self.live_contacts):
            if live_id == contact_id:
                self.live_contacts = self.live_contacts[:index] + self.live_contacts[index + 1 :]
                return channel
        return None

    @property
    def taken(self) -> bool:
        """Whether an agent has taken the case's contacts (as opposed to waiting)."""
        return self.status in (CaseStatus.ASSIGNED, CaseStatus.PENDING)

    def live_on(self, channel: Channel) -> bool:
        return any(live is channel for _, live in self.live_contacts)

    def abandon(self, now: datetime) -> float:
        """Nobody is waiting any more: the case leaves the queue (or its offer);
        returns the seconds it waited."""
        if self.status not in (CaseStatus.QUEUED, CaseStatus.OFFERED):
            raise ConflictingState(f"case {self.case_id} is {self.status}, not waiting")
        waited = max(0.0, (now - (self.queued_at or self.opened_at)).total_seconds())
        self.status = CaseStatus.ABANDONED
        self.owner_agent_id = None
        self.offer_expires_at = None
        self.abandoned_at = now
        return waited

    def contacts_ended(self, now: datetime, wrap_up: timedelta) -> bool:
        """The owner's last live contact of the case ended: the case waits in pending
        for the customer or the owner. Returns whether the slot is free at once (True)
        or held for the wrap-up until `slot_held_until`."""
        if self.status is not CaseStatus.ASSIGNED:
            raise ConflictingState(f"case {self.case_id} is {self.status}, not assigned")
        self.status = CaseStatus.PENDING
        self.slot_held_until = now + wrap_up if wrap_up > timedelta(0) else None
        return self.slot_held_until is None

    def wrap_up_over(self) -> None:
        self.slot_held_until = None

    def attach_contact(self, channel: Channel, contact_id: str = "") -> None:
        """A follow-up joins this case instead of opening a new ticket."""
        self.contact_count += 1
        if contact_id:
            self.contact_arrived(contact_id, channel)
        if self.status is CaseStatus.QUEUED:
            self.channel = channel

    def assign(self, agent_id: str, channel: Channel, now: datetime) -> None:
        self.owner_agent_id = agent_id
        self.channel = channel
        self.status = CaseStatus.ASSIGNED
        self.assigned_at = now
        self.queued_at = None
        self.offer_expires_at = None
        self.slot_held_until = None

    def queue(self, now: datetime) -> None:
        self.owner_agent_id = None
        self.status = CaseStatus.QUEUED
        self.queued_at = self.queued_at or now

    def hand_off(self, pending_too: bool = False) -> str:
        """The case leaves its owner without being resolved; returns the former owner.
        A pending case leaves them only when the customer came back and they cannot
        take it (`pending_too`): a transfer moves work an agent holds."""
        allowed = (
            (CaseStatus.ASSIGNED, CaseStatus.PENDING) if pending_too else (CaseStatus.ASSIGNED,)
        )
        if self.status not in allowed or self.owner_agent_id is None:
            raise ConflictingState(f"case {self.case_id} is {self.status}, not assigned")
        former = self.owner_agent_id
        self.slot_held_until = None
        self.handoff_count += 1
        self.owner_agent_id = None
        return former

    def resolve(self, code: str, now: datetime) -> bool:
        """Resolve; returns whether it counts (provisionally) as first-contact resolved."""
        if self.status not in (CaseStatus.ASSIGNED, CaseStatus.PENDING):
            raise ConflictingState(
                f"case {self.case_id} is {self.status}; only assigned or pending cases resolve"
            )
        self.status = CaseStatus.RESOLVED
        self.live_contacts = ()  # resolving ends whatever is still open
        self.slot_held_until = None
        self.resolved_at = now
        self.resolution_code = code
        self.first_contact_resolved = self.contact_count == 1 and self.handoff_count == 0
        return self.first_contact_resolved

    def within_fcr_window(self, now: datetime, window: timedelta) -> bool:
        return self.resolved_at is not None and now - self.resolved_at <= window

    def reopen(self, channel: Channel, now: datetime, contact_id: str = "") -> bool:
        """A repeat contact inside the FCR window; returns whether FCR credit was revoked."""
        revoked = self.first_contact_resolved
        self.first_contact_resolved = False
        self.contact_count += 1
        if contact_id:
            self.contact_arrived(contact_id, channel)
        self.resolved_at = None
        self.resolution_code = ""
        self.channel = channel
        self.declined_by = ()
        if self.plan is not None:  # a new wait: the steps start over
            self.step = 0
            self.requirements = self.plan.requirements
        self.queue(now)
        return revoked
