"""Synthetic `contact.received` events: customers who come back on other channels.

The mixes are shared with the matching benchmark so that both see the same workload.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

CONTACTS_PER_CUSTOMER = 5
TOPIC_MIX = {
    "billing.refund": 20,
    "billing.fees": 10,
    "orders.status": 30,
    "tech.login": 15,
    "account.security": 5,
    "general.question": 20,
}
CHANNEL_MIX = {"email": 30, "chat": 25, "voice": 15, "sms": 8, "social": 7, "web": 12, "store": 3}
LANGUAGE_MIX = {"en": 75, "es": 15, "fr": 6, "de": 4}
FOLLOW_UP_SHARE = 0.75  # a returning customer usually comes back about the same issue
ANONYMOUS_SHARE = 0.05  # contacts carrying only the channel's identity (later linked/merged)
SUBJECTS = {
    "billing.refund": (
        "Refund for order {order}",
        "I returned order {order} two weeks ago and have not been refunded.",
    ),
    "billing.fees": ("Unexpected fee", "There is a late fee on my statement I do not understand."),
    "orders.status": ("Where is order {order}?", "Order {order} was due Monday, still not here."),
    "tech.login": ("Cannot log in", "The app says my password is wrong since the update."),
    "account.security": ("Suspicious sign-in", "I got an alert about a sign-in I did not make."),
    "general.question": ("Opening hours", "Is the downtown store open on Sunday?"),
}


@dataclass(frozen=True, slots=True)
class Customer:
    number: int
    language: str
    issue: str  # the topic this customer keeps coming back about
    order_value: float

    @property
    def key(self) -> bytes:
        """One stable identity per customer keeps their events in order on one partition."""
        return f"customer.{self.number}@example.com".encode()

    def identity(self, channel: str) -> dict[str, str]:
        n = self.number
        if channel in ("email", "web"):
            return {"kind": "email", "value": f"Customer.{n}@Example.com"}
        if channel in ("voice", "sms"):
            area, exchange = (212, 312, 415, 617, 206)[n % 5], 200 + n // 10_000 % 800
            return {"kind": "phone", "value": f"+1 ({area}) {exchange}-{n % 10_000:04d}"}
        if channel == "chat":
            return {"kind": "chat", "value": f"@cust_{n}"}
        if channel == "social":
            return {"kind": "social", "value": f"Twitter:@cust_{n}"}
        return {"kind": "loyalty", "value": f"loy {n:08d}"}


def weighted_choice(rng: random.Random, mix: dict[str, int]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def rfc3339(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Traffic:
    """Contact events from `customers` people, each coming back on several channels."""

    def __init__(self, customers: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.customers = [
            Customer(
                n,
                weighted_choice(self.rng, LANGUAGE_MIX),
                weighted_choice(self.rng, TOPIC_MIX),
                round(self.rng.uniform(20, 400), 2),
            )
            for n in range(max(1, customers))
        ]

    def next_event(self, occurred_ms: int) -> tuple[str, bytes, bytes]:
        """(event_id, key, value): the protobuf JSON mapping of a contact.received event."""
        rng = self.rng
        customer = rng.choice(self.customers)
        channel = weighted_choice(rng, CHANNEL_MIX)
        topic = (
            customer.issue if rng.random() < FOLLOW_UP_SHARE else weighted_choice(rng, TOPIC_MIX)
        )
        identities = [customer.identity(channel)]
        if identities[0]["kind"] != "email" and rng.random() >= ANONYMOUS_SHARE:
            identities.append(customer.identity("email"))
        order = f"A{100_000 + customer.number}"
        attributes: dict[str, object] = {}
        if topic in ("orders.status", "billing.refund"):
            attributes["order_id"] = order
        if topic == "billing.refund":
            attributes["order_value"] = customer.order_value
        subject, text = SUBJECTS[topic]
        event_id = uuid.uuid4().hex
        event = {
            "event_id": event_id,
            "type": "contact.received",
            "occurred_at": rfc3339(occurred_ms),
            "channel": channel,
            "identities": identities,
            "topic": topic,
            "subject": subject.format(order=order),
            "text": text.format(order=order),
            "language": customer.language,
            "attributes": attributes,
        }
        return event_id, customer.key, json.dumps(event, separators=(",", ":")).encode()
