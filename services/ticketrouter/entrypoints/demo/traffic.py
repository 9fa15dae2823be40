"""The contacts the customers make, as the JSON events a channel would publish to Kafka."""

from __future__ import annotations

import json
import random
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ticketrouter.entrypoints.demo.catalog import CHANNELS, TOPICS
from ticketrouter.entrypoints.demo.people import Person


@dataclass(frozen=True, slots=True)
class Issue:
    topic: str
    subject: str
    text: str
    attributes: Mapping[str, float | str]
    channel: str  # where the customer raised it last


@dataclass(frozen=True, slots=True)
class Outbound:
    event_id: str
    key: bytes
    payload: bytes
    person: Person
    occurred_at: datetime


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Traffic:
    """Contacts from a small crowd that keeps coming back: on another channel, often
    with a second identity, about the same issue (a follow-up) or a new one."""

    def __init__(self, people: Sequence[Person], rng: random.Random) -> None:
        self._people = people
        self._rng = rng
        self._recent: deque[Person] = deque(maxlen=8)
        self._issues: dict[str, Issue] = {}

    def next_contact(self, now: datetime) -> Outbound:
        person, recent = self._pick_person()
        last = self._issues.get(person.email)
        # People who just wrote chase it up; others mostly bring something new.
        if last is not None and self._rng.random() < (0.7 if recent else 0.2):
            channel = self._pick_channel(avoid=last.channel)
            subject, text = (
                f"Re: {last.subject}",
                f"Following up on my {CHANNELS[last.channel].earlier}. ",
            )
            issue = Issue(last.topic, last.subject, last.text, last.attributes, channel)
        else:
            channel = self._pick_channel()
            issue = self._new_issue(channel)
            subject, text = issue.subject, ""
        self._issues[person.email] = issue
        if person not in self._recent:
            self._recent.append(person)
        identities = self._identities(person, channel)
        event: dict[str, object] = {
            "event_id": str(uuid.uuid4()),
            "type": "contact.received",
            "occurred_at": rfc3339(now),
            "channel": channel,
            "identities": [{"kind": kind, "value": value} for kind, value in identities],
            "topic": issue.topic,
            "subject": subject,
            "text": text + issue.text,
            "language": person.language,
            "attributes": dict(issue.attributes),
        }
        if CHANNELS[channel].named:
            event["display_name"] = person.name
        kind, value = identities[0]
        return Outbound(
            str(event["event_id"]),
            f"{kind}:{value}".encode(),
            json.dumps(event).encode(),
            person,
            now,
        )

    def _pick_person(self) -> tuple[Person, bool]:
        if self._recent and self._rng.random() < 0.35:
            return self._rng.choice(self._recent), True
        return self._rng.choice(self._people), False

    def _pick_channel(self, avoid: str | None = None) -> str:
        choices = [c for c in CHANNELS if c != avoid]
        return self._rng.choices(choices, weights=[CHANNELS[c].weight for c in choices])[0]

    def _new_issue(self, channel: str) -> Issue:
        topics = list(TOPICS)
        topic = self._rng.choices(topics, weights=[TOPICS[t][0] for t in topics])[0]
        subject, text = self._rng.choice(TOPICS[topic][1])
        order = str(self._rng.randint(100_000, 999_999))
        attributes: dict[str, float | str] = {}
        if "{order}" in subject + text:
            attributes["order_id"] = order
        if topic == "billing.refund":
            # Up to 800, so the largest refunds need one of the agents allowed 1000.
            attributes["order_value"] = round(self._rng.uniform(20, 800), 2)
        elif topic.startswith("orders."):
            attributes["order_value"] = round(self._rng.uniform(15, 400), 2)
        return Issue(
            topic, subject.format(order=order), text.format(order=order), attributes, channel
        )

    def _identities(self, person: Person, channel: str) -> list[tuple[str, str]]:
        habits = CHANNELS[channel]
        kinds = [habits.primary]
        if self._rng.random() < 0.5:
            kinds.append(habits.secondary)
        return [(kind, self._spelling(person, kind)) for kind in kinds]

    def _spelling(self, person: Person, kind: str) -> str:
        """Channels spell identities their own way; the router normalises them."""
        if kind == "email":
            return person.email if self._rng.random() < 0.7 else person.email.title()
        if kind == "phone":
            last4 = person.phone[-4:]
            return self._rng.choice((person.phone, f"(415) 555-{last4}", f"415.555.{last4}"))
        if kind == "chat":
            return person.chat
        if kind == "social":
            return person.social
        return person.loyalty
