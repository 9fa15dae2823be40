"""Small constructors for readable tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ticketrouter.adapters.rules_file import load_policy
from ticketrouter.domain.agents import Agent
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.commands import ReceiveContact
from ticketrouter.domain.identity import normalise_identity
from ticketrouter.domain.policy import Policy
from ticketrouter.v1 import events_pb2

RULES_FILE = Path(__file__).resolve().parents[1] / "deploy" / "config" / "routing-rules.yaml"
_ids = itertools.count(1)


def rules(version: int = 1) -> Policy:
    """The policy in deploy/config, as the version store would number it."""
    return load_policy(RULES_FILE).with_version(version)


def agent(
    agent_id: str,
    skills: dict[str, int] | None = None,
    authority: dict[str, float] | None = None,
    languages: tuple[str, ...] = ("en",),
    capacity: dict[str, int] | None = None,
    presence: Presence = Presence.AVAILABLE,
    team: str = "support",
) -> Agent:
    return Agent(
        agent_id=agent_id,
        name=agent_id.title(),
        team=team,
        skills=skills if skills is not None else {"general": 3},
        authority=authority or {},
        languages=frozenset(languages),
        capacity={
            Channel(c): n for c, n in (capacity or {"email": 3, "chat": 2, "voice": 1}).items()
        },
        presence=presence,
    )


def contact(
    *identities: tuple[str, str],
    channel: str = "email",
    topic: str = "general.question",
    attributes: dict[str, Any] | None = None,
    event_id: str | None = None,
    at: datetime | None = None,
    language: str = "en",
) -> ReceiveContact:
    return ReceiveContact(
        event_id=event_id or f"evt-{next(_ids)}",
        occurred_at=at or datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        channel=Channel(channel),
        identities=tuple(normalise_identity(k, v) for k, v in identities),
        topic=topic,
        subject="subject",
        language=language,
        attributes=attributes or {},
    )


def event_json(
    event_id: str,
    identities: list[tuple[str, str]],
    channel: str = "email",
    topic: str = "general.question",
    attributes: dict[str, Any] | None = None,
    occurred_at: str = "2026-11-22T10:00:00Z",
) -> dict[str, Any]:
    """A contact.received event in the protobuf JSON mapping, as platforms publish it."""
    return {
        "event_id": event_id,
        "type": "contact.received",
        "occurred_at": occurred_at,
        "channel": channel,
        "identities": [{"kind": k, "value": v} for k, v in identities],
        "topic": topic,
        "subject": "subject",
        "text": "text",
        "language": "en",
        "attributes": attributes or {},
    }


def event_proto(
    event_id: str, email: str, channel: str = "email", at: datetime | None = None
) -> events_pb2.ContactEvent:
    """A contact.received event as a gRPC client submits it (now, unless `at` is given)."""
    event = events_pb2.ContactEvent(
        event_id=event_id,
        type="contact.received",
        channel=channel,
        topic="general.question",
        identities=[events_pb2.Identity(kind="email", value=email)],
        language="en",
    )
    event.occurred_at.FromDatetime((at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None))
    return event
