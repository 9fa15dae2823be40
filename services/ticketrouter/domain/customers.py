"""Customers and their contacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ticketrouter.domain.channels import Channel
from ticketrouter.domain.identity import Identity


@dataclass(slots=True)
class Customer:
    customer_id: str
    display_name: str = ""
    tier: str = "standard"
    language: str = ""
    identities: list[Identity] = field(default_factory=list)
    merged_into: str | None = None  # set once merged: the id lives on as an alias


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer or promotion to make to the customer, on whatever case comes next."""

    code: str
    description: str = ""
    expires_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class Contact:
    event_id: str
    customer_id: str
    case_id: str
    channel: Channel
    topic: str
    subject: str
    occurred_at: datetime
    outcome: str
