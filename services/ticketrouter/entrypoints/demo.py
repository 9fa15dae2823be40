"""`ticketrouter demo`: the whole service on the embedded defaults, with demo agents
working a stream of omnichannel contacts from returning customers.

What `make run` shows: where gRPC and /metrics listen, one line per routing decision
with its explanation, agents resolving and handing off cases, and every few seconds
a summary of routing, queue, handoffs, first-contact resolution and latency.

Everything goes through the edges a real deployment uses: contacts are published to
Kafka, decisions are read back from `routing-decisions`, and the agents take and
close their cases over gRPC.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import signal
import sys
import threading
import time
import unicodedata
import uuid
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import grpc
from google.protobuf import json_format
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from sqlmodel import Session, col, select

from ticketrouter.adapters.kafka import create_producer
from ticketrouter.adapters.orm import CaseRow
from ticketrouter.config import Settings
from ticketrouter.domain.cases import CaseStatus
from ticketrouter.entrypoints.runtime import Runtime
from ticketrouter.v1 import agents_pb2, agents_pb2_grpc, events_pb2, routing_pb2, routing_pb2_grpc

log = logging.getLogger(__name__)

SUMMARY_EVERY_S = 5.0
HANDLING_TIME_S = (1.0, 6.0)
TRANSFER_SHARE = 0.10
TRANSFER_REASONS = ("missing_skill", "missing_authority", "escalation", "customer_request")
RPC_TIMEOUT_S = 5.0
# The case has moved on meanwhile (resolved, transferred, reopened elsewhere): not an error.
QUIET_CODES = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)

# --- typed views of the generated gRPC stubs (they carry no annotations) -------------------


class AssignmentStream(Protocol):
    def __iter__(self) -> Iterator[routing_pb2.Assignment]: ...

    def cancel(self) -> bool: ...


class RoutingStub(Protocol):
    def ListQueue(
        self, request: routing_pb2.ListQueueRequest, timeout: float | None = None
    ) -> routing_pb2.ListQueueResponse: ...

    def Resolve(
        self, request: routing_pb2.ResolveRequest, timeout: float | None = None
    ) -> routing_pb2.Case: ...

    def Transfer(
        self, request: routing_pb2.TransferRequest, timeout: float | None = None
    ) -> routing_pb2.Case: ...

    def WatchAssignments(
        self, request: routing_pb2.WatchAssignmentsRequest
    ) -> AssignmentStream: ...


class AgentStub(Protocol):
    def UpsertAgent(
        self, request: agents_pb2.UpsertAgentRequest, timeout: float | None = None
    ) -> agents_pb2.Agent: ...

    def SetPresence(
        self, request: agents_pb2.SetPresenceRequest, timeout: float | None = None
    ) -> agents_pb2.Agent: ...


def routing_stub(channel: grpc.Channel) -> RoutingStub:
    stub: RoutingStub = routing_pb2_grpc.RoutingServiceStub(channel)  # type: ignore[no-untyped-call]
    return stub


def agent_stub(channel: grpc.Channel) -> AgentStub:
    stub: AgentStub = agents_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
    return stub


# --- the demo agents ---------------------------------------------------------------------


def _agent(
    agent_id: str,
    name: str,
    team: str,
    skills: Mapping[str, int],
    authority: Mapping[str, float],
    languages: Sequence[str],
    chat: int,
    email: int,
) -> agents_pb2.Agent:
    capacity = {
        "voice": 1,
        "chat": chat,
        "email": email,
        "sms": 2,
        "social": 2,
        "web": 2,
        # A contact logged at a store desk still needs an agent who owns it.
        "store": 1,
    }
    return agents_pb2.Agent(
        agent_id=agent_id,
        name=name,
        team=team,
        skills=skills,
        authority=authority,
        languages=list(languages),
        presence="available",
        capacity=[agents_pb2.ChannelCapacity(channel=c, capacity=n) for c, n in capacity.items()],
    )


def demo_agents() -> list[agents_pb2.Agent]:
    """Skills and authority overlap on purpose but not completely: big refunds, fee
    waivers and account unlocks in Spanish or French each rest on one or two people,
    so some cases wait for the right agent rather than go to the wrong one."""
    # fmt: off
    return [
        _agent("ana-ruiz", "Ana Ruiz", "billing", {"billing": 5, "orders": 3, "general": 3},
               {"refund_limit": 1000, "can_waive_fees": 1.0}, ("en", "es"), chat=3, email=5),
        _agent("ben-okafor", "Ben Okafor", "billing", {"billing": 4, "general": 2},
               {"refund_limit": 250, "can_waive_fees": 1.0}, ("en",), chat=2, email=4),
        _agent("chloe-martin", "Chloé Martin", "billing",
               {"billing": 3, "orders": 2, "general": 3},
               {"refund_limit": 250}, ("en", "fr"), chat=3, email=4),
        _agent("dev-patel", "Dev Patel", "orders", {"orders": 5, "billing": 2, "general": 3},
               {"refund_limit": 100}, ("en",), chat=3, email=5),
        _agent("elena-garcia", "Elena García", "orders",
               {"orders": 4, "billing": 3, "general": 4},
               {"refund_limit": 100}, ("en", "es"), chat=3, email=5),
        _agent("farid-haddad", "Farid Haddad", "technical",
               {"technical": 5, "security": 3, "general": 2},
               {"can_unlock_account": 1.0}, ("en", "fr"), chat=2, email=4),
        _agent("grace-kim", "Grace Kim", "security",
               {"security": 5, "technical": 3, "general": 2},
               {"can_unlock_account": 1.0, "refund_limit": 100}, ("en", "es"), chat=2, email=4),
        _agent("hugo-lefevre", "Hugo Lefèvre", "care",
               {"general": 5, "billing": 3, "orders": 3, "technical": 3},
               {"refund_limit": 1000, "can_waive_fees": 1.0}, ("en", "fr"), chat=3, email=5),
    ]
    # fmt: on


def _describe_agent(agent: agents_pb2.Agent) -> str:
    ranked = sorted(agent.skills.items(), key=lambda item: (-item[1], item[0]))
    skills = ", ".join(f"{skill} {level}" for skill, level in ranked)
    powers = []
    if agent.authority.get("refund_limit"):
        powers.append(f"refunds<={agent.authority['refund_limit']:g}")
    if agent.authority.get("can_waive_fees"):
        powers.append("waives fees")
    if agent.authority.get("can_unlock_account"):
        powers.append("unlocks accounts")
    return (
        f"  {agent.agent_id:<13} {agent.team:<9} {skills:<43} "
        f"{', '.join(powers) or '-':<30} {'/'.join(agent.languages)}"
    )


# --- the customers -------------------------------------------------------------------------

# language -> names; fictional people.
_NAMES = {
    "en": "Olivia Bennett, Marcus Reid, Priya Nair, Tom Gallagher, Hannah Schultz, Kwame Mensah, "
    "Grace Liu, Daniel Novak, Fatima Al-Sayed, Jack Thornton, Mei Tanaka, Samuel Adeyemi, "
    "Laura Fischer, Ryan O'Connor, Zoe Whitaker, Ivan Petrov, Noah Jensen, Aisha Khan, "
    "Ethan Brooks, Sophie Turner, Lucas Meyer, Nina Kowalski, Omar Haddad, Emily Carter, "
    "Victor Hale, Ruth Abebe, Leo Marchetti, Isla Morgan",
    "es": "Ana López, Carlos Mendoza, Lucía Fernández, Javier Ortega, Sofía Ramírez, "
    "Diego Castillo, Valentina Cruz, Mateo Herrera",
    "fr": "Camille Laurent, Julien Moreau, Élodie Girard, Antoine Rousseau",
}
_DOMAINS = ("example.com", "example.org", "example.net")


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    language: str
    email: str
    phone: str
    chat: str
    loyalty: str

    @property
    def social(self) -> str:
        return f"x:@{self.chat}"


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def demo_people() -> tuple[Person, ...]:
    people = []
    named = [(name, lang) for lang, names in _NAMES.items() for name in names.split(", ")]
    for n, (name, language) in enumerate(named):
        first, last = (_ascii(part) for part in name.split(" ", 1))
        people.append(
            Person(
                name=name,
                language=language,
                email=f"{first}.{last}@{_DOMAINS[n % len(_DOMAINS)]}",
                # 555-0100..0199 are reserved for fiction.
                phone=f"+1 415 555 {100 + n:04d}",
                chat=f"{first}{last[0]}{n:02d}",
                loyalty=f"LY-{240100 + n}",
            )
        )
    return tuple(people)


# --- the contacts they make ----------------------------------------------------------------

# topic -> (weight, ((subject, text), ...)); "{order}" is filled in per issue.
# fmt: off
_TOPICS: dict[str, tuple[int, tuple[tuple[str, str], ...]]] = {
    "billing.refund": (18, (
        ("Charged twice for order {order}", "I was charged twice for order {order}."),
        ("Refund for a damaged item", "The blender from order {order} arrived cracked."),
        ("Still waiting for my refund", "A refund for order {order} was approved weeks ago."),
        ("Cancelled order was charged", "I cancelled order {order} but my card was charged."),
    )),
    "billing.fees": (7, (
        ("Late fee on my account", "There is a late fee on my statement but I paid on time."),
        ("Unexpected service fee", "Why was I charged a service fee this month?"),
    )),
    "billing.invoice": (5, (
        ("Invoice shows the wrong address", "The invoice for order {order} has an old address."),
        ("Need a VAT invoice", "Please send a VAT invoice for order {order}."),
    )),
    "billing.payment": (4, (
        ("Card declined at checkout", "My card keeps getting declined though it works elsewhere."),
    )),
    "orders.tracking": (12, (
        ("Where is my order {order}?", "Tracking for order {order} hasn't moved in five days."),
        ("Parcel marked delivered, not here", "Order {order} says delivered; nothing arrived."),
    )),
    "orders.return": (8, (
        ("Return a jacket that doesn't fit", "How do I return the jacket from order {order}?"),
    )),
    "orders.change": (6, (
        ("Change delivery address", "Can I change the delivery address on order {order}?"),
        ("Missing item in my order", "Order {order} arrived without the charger."),
    )),
    "tech.app": (7, (
        ("App crashes on checkout", "The app closes every time I open my cart."),
    )),
    "tech.login": (6, (
        ("Password reset email never arrives", "I asked for a reset link three times."),
    )),
    "account.security": (7, (
        ("Account locked after failed logins", "My account is locked and I can't sign in."),
        ("Suspicious login from abroad", "I got an alert about a login that wasn't me."),
    )),
    "general.question": (10, (
        ("Store opening hours on Sunday", "Is the Main Street store open on Sundays?"),
        ("Do you price match?", "A competitor sells the same kettle for less."),
    )),
    "general.feedback": (4, (
        ("Thanks to the Main Street team", "The staff were brilliant last Saturday."),
    )),
}


@dataclass(frozen=True, slots=True)
class ChannelHabits:
    weight: int
    primary: str  # the identity this channel always sees
    secondary: str  # one a customer often adds (a caller gives their email): it links the two
    earlier: str  # how a follow-up refers to a contact made here
    named: bool  # the platform knows the customer's name


_CHANNELS = {
    "email":  ChannelHabits(24, "email",   "phone",   "email",                   True),
    "chat":   ChannelHabits(26, "chat",    "email",   "chat",                    True),
    "voice":  ChannelHabits(16, "phone",   "email",   "call",                    False),
    "sms":    ChannelHabits(8,  "phone",   "loyalty", "text message",            False),
    "social": ChannelHabits(8,  "social",  "email",   "message on social media", True),
    "web":    ChannelHabits(12, "email",   "phone",   "web form",                True),
    "store":  ChannelHabits(6,  "loyalty", "phone",   "store visit",             False),
}
# fmt: on


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
                f"Following up on my {_CHANNELS[last.channel].earlier}. ",
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
        if _CHANNELS[channel].named:
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
        choices = [c for c in _CHANNELS if c != avoid]
        return self._rng.choices(choices, weights=[_CHANNELS[c].weight for c in choices])[0]

    def _new_issue(self, channel: str) -> Issue:
        topics = list(_TOPICS)
        topic = self._rng.choices(topics, weights=[_TOPICS[t][0] for t in topics])[0]
        subject, text = self._rng.choice(_TOPICS[topic][1])
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
        habits = _CHANNELS[channel]
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


# --- shared state between the threads ------------------------------------------------------

_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def _now_hms() -> str:
    return datetime.now().strftime("%H:%M:%S")


class Directory:
    """Who is behind an event or a customer id, so lines name people, not hashes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, tuple[str, datetime]] = {}
        self._customers: dict[str, str] = {}

    def sent(self, event_id: str, name: str, occurred_at: datetime) -> None:
        with self._lock:
            self._events[event_id] = (name, occurred_at)

    def claim(self, event_id: str, customer_id: str) -> datetime | None:
        """The send time of one of our events, now decided; learns the customer's name."""
        with self._lock:
            found = self._events.pop(event_id, None)
            if found is None:
                return None
            self._customers[customer_id] = found[0]
            return found[1]

    def who(self, customer_id: str) -> str:
        with self._lock:
            name = self._customers.get(customer_id, "customer")
        return f"{name} ({customer_id[:6]})"


_ROUTED = ("assigned", "rejoined_case", "reassigned")


@dataclass
class Stats:
    sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    handoffs: int = 0
    resolved: int = 0
    first_contact: int = 0
    revoked: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=50_000))
    _credited: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def contact_sent(self) -> None:
        with self._lock:
            self.sent += 1

    def decision(
        self, outcome: str, case_id: str, from_contact: bool, latency_ms: float | None
    ) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)
            # Measured honestly, as the router does: a repeat contact on a case that
            # was credited as first-contact resolved takes the credit back.
            if from_contact and case_id in self._credited:
                self._credited.discard(case_id)
                self.revoked += 1

    def handoff(self) -> None:
        with self._lock:
            self.handoffs += 1

    def resolution(self, case_id: str, first_contact: bool) -> None:
        with self._lock:
            self.resolved += 1
            if first_contact:
                self.first_contact += 1
                self._credited.add(case_id)

    def summary(self, elapsed_s: float, queued_now: int | None, label: str = "") -> str:
        with self._lock:
            routed = sum(self.outcomes[o] for o in _ROUTED)
            fcr = self.first_contact - self.revoked
            latencies = sorted(self.latencies_ms)
            parts = [
                f"sent {self.sent}",
                f"routed {routed} (assigned {self.outcomes['assigned']}, "
                f"rejoined {self.outcomes['rejoined_case']}, "
                f"reassigned {self.outcomes['reassigned']})",
                f"queued now {'?' if queued_now is None else queued_now}",
                f"handoffs {self.handoffs}",
                f"resolved {self.resolved}",
                f"FCR {fcr / self.resolved:.0%} ({fcr}/{self.resolved})"
                if self.resolved
                else "FCR -",
                f"latency p50 {_percentile(latencies, 0.50)} p99 {_percentile(latencies, 0.99)}",
            ]
        minutes, seconds = divmod(int(elapsed_s), 60)
        return f"=={label} {minutes:d}:{seconds:02d}  " + " | ".join(parts)


def _percentile(ordered: Sequence[float], q: float) -> str:
    if not ordered:
        return "-"
    return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]:.0f} ms"


# --- routing decisions, read back from Kafka -----------------------------------------------

_OUTCOME_LABELS = {"rejoined_case": "rejoined"}


class DecisionTail:
    """Prints each decision the router publishes on `routing-decisions`."""

    def __init__(self, bootstrap: str, topic: str, stats: Stats, directory: Directory) -> None:
        # No consumer group: reading every partition by assignment starts at once,
        # where a group join costs seconds, and nothing here needs committed offsets.
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="ticketrouter-demo-decisions",
        )
        self._topic = topic
        self._stats = stats
        self._directory = directory
        self._seen: deque[str] = deque(maxlen=20_000)
        self._seen_set: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-decisions", daemon=True)

    def start(self, timeout: float = 15.0) -> None:
        """Start at the end of the topic: this run's decisions, not an earlier run's."""
        deadline = time.monotonic() + timeout
        partitions = self._consumer.partitions_for_topic(self._topic)
        while not partitions and time.monotonic() < deadline:
            time.sleep(0.2)
            partitions = self._consumer.partitions_for_topic(self._topic)
        if not partitions:
            raise RuntimeError(f"topic {self._topic} has no partitions")
        assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        self._consumer.seek_to_end(*assigned)
        for tp in assigned:
            self._consumer.position(tp)  # resolve "end" now, before any contact is sent
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                polled = self._consumer.poll(timeout_ms=200)
            except KafkaError as err:
                log.warning("reading decisions failed; retrying", extra={"error": str(err)})
                self._stop.wait(1.0)
                continue
            for records in polled.values():
                for record in records:
                    self._show(record.value or b"")

    def _show(self, payload: bytes) -> None:
        decision = events_pb2.RoutingDecision()
        try:
            json_format.Parse(payload, decision, ignore_unknown_fields=True)
        except json_format.ParseError as err:
            log.warning("unreadable decision", extra={"error": str(err)[:200]})
            return
        if self._duplicate(decision.decision_id):
            return  # the outbox publishes at least once
        sent_at = self._directory.claim(decision.event_id, decision.customer_id)
        latency_ms = None
        if sent_at is not None:
            decided = decision.decided_at.ToDatetime(tzinfo=UTC)
            latency_ms = (decided - sent_at).total_seconds() * 1000
        self._stats.decision(
            decision.outcome, decision.case_id, bool(decision.event_id), latency_ms
        )
        say(_decision_line(decision, self._directory.who(decision.customer_id)))

    def _duplicate(self, decision_id: str) -> bool:
        if decision_id in self._seen_set:
            return True
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(decision_id)
        self._seen_set.add(decision_id)
        return False


def _decision_line(decision: events_pb2.RoutingDecision, who: str) -> str:
    outcome = _OUTCOME_LABELS.get(decision.outcome, decision.outcome)
    target = f"-> {decision.agent_id}" if decision.agent_id else "-> queue"
    return (
        f"{_now_hms()}  {decision.channel:<6} {who:<26} {decision.topic:<17} "
        f"{outcome:<10} {target:<16} {decision.explanation.summary}"
    )


# --- the agents at work --------------------------------------------------------------------

_RESOLUTION_CODES = {
    "billing.refund": "refund_issued",
    "billing.fees": "fee_waived",
    "billing": "billing_corrected",
    "orders": "order_fixed",
    "tech": "fixed_with_customer",
    "account.security": "account_unlocked",
}


def resolution_code(topic: str) -> str:
    return _RESOLUTION_CODES.get(topic) or _RESOLUTION_CODES.get(topic.split(".")[0], "answered")


@dataclass(order=True, frozen=True, slots=True)
class _Job:
    due: float
    token: int
    case_id: str = field(compare=False)
    agent_id: str = field(compare=False)
    topic: str = field(compare=False)


class AgentDesk:
    """The demo agents. Each assignment is worked for a few seconds, then resolved or,
    now and then, handed off; one scheduler thread and a heap, whatever the load."""

    def __init__(
        self, routing: RoutingStub, stats: Stats, directory: Directory, rng: random.Random
    ) -> None:
        self._routing = routing
        self._stats = stats
        self._directory = directory
        self._rng = rng
        self._cond = threading.Condition()
        self._heap: list[_Job] = []
        # case id -> the one job that will close it; a newer assignment supersedes it.
        self._holding: dict[str, _Job] = {}
        self._tokens = itertools.count(1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-agents", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=RPC_TIMEOUT_S + 1)

    def take(self, case_id: str, agent_id: str, topic: str, confirmed: bool = False) -> bool:
        """Schedule work on a case the router gave `agent_id`; returns whether it is new.

        `confirmed`: the router only confirmed an existing owner (a follow-up that
        rejoined the case), so an agent already working on it just carries on.
        """
        with self._cond:
            held = self._holding.get(case_id)
            if confirmed and held is not None and held.agent_id == agent_id:
                return False
            job = _Job(
                time.monotonic() + self._rng.uniform(*HANDLING_TIME_S),
                next(self._tokens),
                case_id,
                agent_id,
                topic,
            )
            self._holding[case_id] = job
            heapq.heappush(self._heap, job)
            self._cond.notify()
            return True

    def _run(self) -> None:
        while (job := self._next_due()) is not None:
            if self._is_current(job):
                self._work(job)

    def _next_due(self) -> _Job | None:
        with self._cond:
            while not self._stop.is_set():
                wait = self._heap[0].due - time.monotonic() if self._heap else 1.0
                if self._heap and wait <= 0:
                    return heapq.heappop(self._heap)
                self._cond.wait(timeout=wait)
            return None

    def _is_current(self, job: _Job) -> bool:
        with self._cond:
            return self._holding.get(job.case_id) is job

    def _work(self, job: _Job) -> None:
        try:
            if self._rng.random() < TRANSFER_SHARE:
                self._transfer(job)
            else:
                self._resolve(job)
        except grpc.RpcError as err:
            if err.code() in QUIET_CODES:
                log.debug("case moved on", extra={"case": job.case_id, "code": str(err.code())})
            elif not self._stop.is_set():
                log.warning(
                    "agent action failed",
                    extra={
                        "agent": job.agent_id,
                        "case": job.case_id,
                        "code": str(err.code()),
                        "detail": err.details(),
                    },
                )
        finally:
            with self._cond:
                if self._holding.get(job.case_id) is job:
                    del self._holding[job.case_id]

    def _resolve(self, job: _Job) -> None:
        case = self._routing.Resolve(
            routing_pb2.ResolveRequest(
                case_id=job.case_id, resolution_code=resolution_code(job.topic)
            ),
            timeout=RPC_TIMEOUT_S,
        )
        self._stats.resolution(case.case_id, case.first_contact_resolved)
        fcr = ", first-contact resolution" if case.first_contact_resolved else ""
        say(
            f"{_now_hms()}  {'':<6} {self._directory.who(case.customer_id):<26} "
            f"{case.topic:<17} {'resolved':<10} {'by ' + job.agent_id:<16} "
            f"{case.resolution_code}{fcr}"
        )

    def _transfer(self, job: _Job) -> None:
        reason = self._rng.choice(TRANSFER_REASONS)
        case = self._routing.Transfer(
            routing_pb2.TransferRequest(
                case_id=job.case_id,
                reason=reason,
                note=f"{job.agent_id}: handing over ({reason.replace('_', ' ')})",
            ),
            timeout=RPC_TIMEOUT_S,
        )
        self._stats.handoff()
        target = case.owner_agent_id or "queue"
        say(
            f"{_now_hms()}  {'':<6} {self._directory.who(case.customer_id):<26} "
            f"{case.topic:<17} {'handoff':<10} {job.agent_id + ' -> ' + target:<16} "
            f"{reason}"
        )


class AssignmentWatch:
    """Feeds the desk from RoutingService.WatchAssignments (all agents)."""

    def __init__(self, routing: RoutingStub, desk: AgentDesk) -> None:
        self._routing = routing
        self._desk = desk
        self._lock = threading.Lock()
        self._call: AssignmentStream | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            call = self._routing.WatchAssignments(routing_pb2.WatchAssignmentsRequest())
            with self._lock:
                self._call = call
                if self._stop.is_set():
                    call.cancel()
            try:
                for assignment in call:
                    decision = assignment.decision
                    self._desk.take(
                        decision.case_id,
                        decision.agent_id,
                        decision.topic,
                        confirmed=decision.outcome == "rejoined_case",
                    )
            except grpc.RpcError as err:
                if self._stop.is_set():
                    return
                log.warning(
                    "assignment stream interrupted; reconnecting", extra={"code": str(err.code())}
                )
                self._stop.wait(1.0)


def open_cases_of(runtime: Runtime, agent_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(case id, agent id, topic) of the cases the demo agents hold, from the database.

    No RPC lists an agent's open cases, and they outlive a run (the SQLite file
    persists), so this picks up work left by an earlier run and any assignment the
    stream missed while it was connecting.
    """
    query = select(CaseRow.id, CaseRow.owner_agent_id, CaseRow.topic).where(
        col(CaseRow.status) == CaseStatus.ASSIGNED.value, col(CaseRow.owner_agent_id).in_(agent_ids)
    )
    with Session(runtime.app.database.reader) as session:
        return [(case_id, owner, topic) for case_id, owner, topic in session.exec(query) if owner]


# --- the demo as a whole -----------------------------------------------------------------


def _reachable(address: str, port: int) -> str:
    host = address.rpartition(":")[0].strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}" if sep and "@" in rest else url


class DemoSession:
    """The demo's moving parts around one running service."""

    def __init__(self, runtime: Runtime, rate: float) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.rate = rate
        self.grpc_target = _reachable(settings.grpc_address, runtime.grpc_port)
        self.metrics_target = _reachable(settings.metrics_address, runtime.metrics_port)
        self.stats = Stats()
        self.directory = Directory()
        self.roster = demo_agents()
        self.people = demo_people()
        self.traffic = Traffic(self.people, random.Random())
        self.channel = grpc.insecure_channel(self.grpc_target)
        self.routing = routing_stub(self.channel)
        self.agents = agent_stub(self.channel)
        self.desk = AgentDesk(self.routing, self.stats, self.directory, random.Random())
        self.watch = AssignmentWatch(self.routing, self.desk)
        self.tail = DecisionTail(
            runtime.bootstrap_servers, settings.decisions_topic, self.stats, self.directory
        )
        self.producer: KafkaProducer = create_producer(
            runtime.bootstrap_servers, client_id="ticketrouter-demo"
        )
        self.started = time.monotonic()

    def banner(self) -> None:
        settings = self.runtime.settings
        embedded = " (embedded Tansu)" if not settings.kafka_bootstrap else ""
        say("")
        say("ticketrouter demo: one customer, one case, one empowered agent")
        say(f"  gRPC      {self.grpc_target}")
        say(f"            try: grpcurl -plaintext {self.grpc_target} list")
        say(
            f"                 grpcurl -plaintext -d '{{}}' {self.grpc_target} "
            "ticketrouter.v1.RoutingService/ListQueue"
        )
        say(f"  metrics   http://{self.metrics_target}/metrics")
        say(
            f"  kafka     {self.runtime.bootstrap_servers}{embedded}: "
            f"{settings.contacts_topic} -> {settings.decisions_topic}"
        )
        say(f"  database  {_redacted(settings.database_url)}")
        say(
            f"  traffic   {self.rate:g} contacts/s from {len(self.people)} customers "
            f"on {len(_CHANNELS)} channels (Ctrl-C to stop)"
        )
        say("")
        say(f"{len(self.roster)} demo agents (skills, authority, languages):")
        for agent in self.roster:
            say(_describe_agent(agent))
        say("")
        say(
            f"{'time':<8}  {'chan':<6} {'customer':<26} {'topic':<17} {'outcome':<10} "
            f"{'agent':<16} why"
        )

    def start(self) -> None:
        # The stream and the tail come first so the work agents pull as they come
        # online is seen like any other.
        self.tail.start()
        self.desk.start()
        self.watch.start()
        for agent in self.roster:
            self.agents.UpsertAgent(
                agents_pb2.UpsertAgentRequest(agent=agent), timeout=RPC_TIMEOUT_S
            )
        resumed = self.pick_up()
        if resumed:
            say(f"{resumed} case(s) left open by an earlier run are being worked again")
        self.wait_for_worker()
        self.started = time.monotonic()

    def wait_for_worker(self, timeout: float = 30.0) -> None:
        """Hold the traffic until the worker owns its partitions: contacts sent earlier
        wait for the consumer group join (seconds), which says nothing about routing
        latency but would dominate its percentiles."""
        worker = self.runtime.worker
        if worker is None:
            return
        say("waiting for the Kafka worker to join its consumer group ...")
        deadline = time.monotonic() + timeout
        # assignment() only reads the consumer's subscription state: safe from here.
        while not worker.consumer.assignment() and time.monotonic() < deadline:
            if self.runtime.stopped.wait(0.1):
                return

    def pick_up(self) -> int:
        ids = [agent.agent_id for agent in self.roster]
        return sum(
            self.desk.take(case_id, agent_id, topic, confirmed=True)
            for case_id, agent_id, topic in open_cases_of(self.runtime, ids)
        )

    def send_one(self) -> None:
        contact = self.traffic.next_contact(datetime.now(UTC))
        self.directory.sent(contact.event_id, contact.person.name, contact.occurred_at)
        self.producer.send(
            self.runtime.settings.contacts_topic,
            key=contact.key,
            value=contact.payload,
            headers=[("content-type", b"application/json")],
        )
        self.stats.contact_sent()

    def summary(self, label: str = "") -> str:
        try:
            depth: int | None = self.routing.ListQueue(
                routing_pb2.ListQueueRequest(limit=1), timeout=RPC_TIMEOUT_S
            ).depth
        except grpc.RpcError:
            depth = None
        return self.stats.summary(time.monotonic() - self.started, depth, label)

    def pump(self, seconds: float, stop: threading.Event) -> None:
        """Send at `rate`, summarise every few seconds, until stopped or out of time."""
        now = time.monotonic()
        deadline = now + seconds if seconds > 0 else float("inf")
        next_send, next_summary = now, now + SUMMARY_EVERY_S
        while not stop.is_set() and not self.runtime.stopped.is_set():
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= next_send:
                self.send_one()
                # After a stall, carry on at the rate instead of sending a burst.
                next_send = max(next_send + 1 / self.rate, now - 1.0)
            if now >= next_summary:
                say(self.summary())
                self.pick_up()
                next_summary += SUMMARY_EVERY_S
            stop.wait(max(0.0, min(next_send, next_summary, deadline) - time.monotonic()))

    def close(self) -> None:
        """Stop traffic, let the agents log off, then print the last summary."""
        try:
            self.producer.flush(timeout=5)
        finally:
            self.producer.close(timeout=5)
        self.watch.close()
        self.desk.close()
        self.tail.close()
        say(self.summary(" final"))
        # Offline, not available: nobody is left to work whatever the router would
        # still send them. Their open cases wait for the next run.
        for agent in self.roster:
            try:
                self.agents.SetPresence(
                    agents_pb2.SetPresenceRequest(agent_id=agent.agent_id, presence="offline"),
                    timeout=RPC_TIMEOUT_S,
                )
            except grpc.RpcError as err:
                log.warning(
                    "could not log an agent off",
                    extra={"agent": agent.agent_id, "code": str(err.code())},
                )
        self.channel.close()


def run_demo(settings: Settings, rate: float, seconds: float) -> int:
    if rate <= 0:
        print("demo: --rate must be greater than 0", file=sys.stderr)
        return 2
    try:
        runtime = Runtime(settings).start()
    except (OSError, RuntimeError, KafkaError) as err:
        print(
            f"demo: the service could not start: {err}\n"
            "      (is another ticketrouter running? TICKETROUTER_GRPC_ADDRESS and "
            "TICKETROUTER_METRICS_ADDRESS choose other ports)",
            file=sys.stderr,
        )
        return 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return _run(runtime, rate, seconds, stop)
    finally:
        signal.signal(signal.SIGTERM, previous)
        runtime.stop()


def _run(runtime: Runtime, rate: float, seconds: float, stop: threading.Event) -> int:
    session = DemoSession(runtime, rate)
    session.banner()
    try:
        session.start()
        session.pump(seconds, stop)
    except KeyboardInterrupt:
        pass
    finally:
        say("stopping ...")
        session.close()
    if runtime.stopped.is_set():
        print("demo: the service stopped unexpectedly; see the log above", file=sys.stderr)
        return 1
    return 0
