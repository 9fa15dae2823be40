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
