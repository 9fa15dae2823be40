"""The customer's case: the unit of work, owned by one agent at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ticketrouter.domain.channels import Channel
from ticketrouter.domain.decisions import Explanation
from ticketrouter.domain.errors import ConflictingState, parse_choice
from ticketrouter.domain.requirements import Requirements


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
        self.queue(now)
        return revoked
