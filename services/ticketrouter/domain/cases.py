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


class CaseStatus(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


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
        if self.plan is None or self.queued_at is None or self.status is CaseStatus.RESOLVED:
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
        return self.status is not CaseStatus.RESOLVED

    def attach_contact(self, channel: Channel) -> None:
        """A follow-up joins this case instead of opening a new ticket."""
        self.contact_count += 1
        if self.status is CaseStatus.QUEUED:
            self.channel = channel

    def assign(self, agent_id: str, channel: Channel, now: datetime) -> None:
        self.owner_agent_id = agent_id
        self.channel = channel
        self.status = CaseStatus.ASSIGNED
        self.assigned_at = now
        self.queued_at = None
        self.offer_expires_at = None

    def queue(self, now: datetime) -> None:
        self.owner_agent_id = None
        self.status = CaseStatus.QUEUED
        self.queued_at = self.queued_at or now

    def hand_off(self) -> str:
        """The case leaves its owner without being resolved; returns the former owner."""
        if self.status is not CaseStatus.ASSIGNED or self.owner_agent_id is None:
            raise ConflictingState(f"case {self.case_id} is {self.status}, not assigned")
        former = self.owner_agent_id
        self.handoff_count += 1
        self.owner_agent_id = None
        return former

    def resolve(self, code: str, now: datetime) -> bool:
        """Resolve; returns whether it counts (provisionally) as first-contact resolved."""
        if self.status is not CaseStatus.ASSIGNED:
            raise ConflictingState(
                f"case {self.case_id} is {self.status}; only assigned cases resolve"
            )
        self.status = CaseStatus.RESOLVED
        self.resolved_at = now
        self.resolution_code = code
        self.first_contact_resolved = self.contact_count == 1 and self.handoff_count == 0
        return self.first_contact_resolved

    def within_fcr_window(self, now: datetime, window: timedelta) -> bool:
        return self.resolved_at is not None and now - self.resolved_at <= window

    def reopen(self, channel: Channel, now: datetime) -> bool:
        """A repeat contact inside the FCR window; returns whether FCR credit was revoked."""
        revoked = self.first_contact_resolved
        self.first_contact_resolved = False
        self.contact_count += 1
        self.resolved_at = None
        self.resolution_code = ""
        self.channel = channel
        self.declined_by = ()
        if self.plan is not None:  # a new wait: the steps start over
            self.step = 0
            self.requirements = self.plan.requirements
        self.queue(now)
        return revoked
