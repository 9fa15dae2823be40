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


# The share of contacts that come back about an issue the customer already raised, on
# the same topic inside the FCR window: a follow-up on a case still open, or a repeat
# contact after it was resolved (which reopens it and takes its FCR credit back). Contact
# centers report FCR of about 70% on average and 80% for the best (SQM Group's
# benchmarks; 70-75% is the usual quote), and repeat contacts are most of what keeps it
# there: with 8% of cases handed off (casework.TRANSFER_SHARE), 12% of contacts coming
# back puts the router's FCR near 70% (tests/e2e/test_demo_traffic.py checks 65-80%,
# repeat contacts 10-20% of contacts, handoffs 5-15% of resolutions), well clear of the
# 60% of TicketrouterFcrLow.
REPEAT_SHARE = 0.12
# Who chases up: one of the issues raised lately (the last few minutes of the demo's
# traffic, which stands for the days of a real FCR window), at most twice each.
RECENT_ISSUES = 400
MAX_FOLLOW_UPS = 2


@dataclass(slots=True)
class _Raised:
    person: Person
    issue: Issue
    follow_ups: int = 0


class Traffic:
    """Contacts from a large crowd in steady state: most bring a new issue from someone
    the center has not heard from about it; `REPEAT_SHARE` of them come back about an
    issue raised earlier, on another channel and often with a second identity."""

    def __init__(self, people: Sequence[Person], rng: random.Random) -> None:
        self._people = people
        self._rng = rng
        self._recent: deque[_Raised] = deque(maxlen=RECENT_ISSUES)
        # (email, topic) of every issue raised in this run: a new issue is never on a
        # topic its person already raised, so the only repeats are the intended ones.
        self._raised: set[tuple[str, str]] = set()

    def next_contact(self, now: datetime) -> Outbound:
        chased = self._pick_follow_up()
        known: str | None = None
        if chased is not None:
            person, last = chased.person, chased.issue
            known = CHANNELS[last.channel].primary
            chased.follow_ups += 1
            channel = self._pick_channel(avoid=last.channel)
            subject, text = (
                f"Re: {last.subject}",
                f"Following up on my {CHANNELS[last.channel].earlier}. ",
            )
            issue = Issue(last.topic, last.subject, last.text, last.attributes, channel)
            chased.issue = issue
        else:
            channel = self._pick_channel()
            issue = self._new_issue(channel)
            person = self._pick_person(issue.topic)
            subject, text = issue.subject, ""
            self._raised.add((person.email, issue.topic))
            self._recent.append(_Raised(person, issue))
        identities = self._identities(person, channel, known)
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

    def _pick_follow_up(self) -> _Raised | None:
        if not self._recent or self._rng.random() >= REPEAT_SHARE:
            return None
        for _ in range(5):
            chased = self._rng.choice(self._recent)
            if chased.follow_ups < MAX_FOLLOW_UPS:
                return chased
        return None

    def _pick_person(self, topic: str) -> Person:
        """Someone who has not raised this topic yet (a few draws; with thousands of
        people, almost always the first)."""
        for _ in range(20):
            person = self._rng.choice(self._people)
            if (person.email, topic) not in self._raised:
                return person
        return person

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

    def _identities(
        self, person: Person, channel: str, known: str | None = None
    ) -> list[tuple[str, str]]:
        """`known`: the identity kind the customer used on the contact they follow up;
        they give it again (an email, a phone number), so the router can tell who they
        are on a channel it has not seen them on."""
        habits = CHANNELS[channel]
        kinds = [habits.primary]
        if known is not None and known != habits.primary:
            kinds.append(known)
        elif self._rng.random() < 0.5:
            kinds.append(habits.secondary)
        return [(kind, self._spelling(person, kind)) for kind in kinds]

    def _spelling(self, person: Person, kind: str) -> str:
        """Channels spell identities their own way; the router normalises them."""
        if kind == "email":
            return person.email if self._rng.random() < 0.7 else person.email.title()
        if kind == "phone":
            _country, area, exchange, line = person.phone.split()
            return self._rng.choice(
                (person.phone, f"({area}) {exchange}-{line}", f"{area}.{exchange}.{line}")
            )
        if kind == "chat":
            return person.chat
        if kind == "social":
            return person.social
        return person.loyalty
