"""The customer's unified timeline: every contact on every channel and what
happened to their cases, in one time-ordered stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class EntryKind(StrEnum):
    CONTACT = "contact"
    MESSAGE = "message"
    ASSIGNED = "assigned"
    OFFERED = "offered"
    DECLINED = "declined"  # an offer declined or let lapse: not a handoff
    STEP = "step"  # a routing step relaxed the requirements while the case waited
    HANDOFF = "handoff"
    RESOLVED = "resolved"
    ENDED = "ended"  # a contact ended: the call hung up, the chat closed
    ABANDONED = "abandoned"  # the customer left before an agent took the contact
    REOPENED = "reopened"
    NOTE = "note"
    CSAT = "csat"
    PROFILE = "profile"
    MERGED = "merged"
    LINKED = "linked"
    UNLINKED = "unlinked"
    CONFLICT = "conflict"
    OFFER = "offer"


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    customer_id: str
    at: datetime
    kind: EntryKind
    case_id: str = ""
    channel: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: tuple[datetime, int] | None  # (at, id) of the last entry, when more remain
