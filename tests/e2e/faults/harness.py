"""What the fault tests share: `ticketrouter worker` processes, traffic with known
contents, a publisher that counts acknowledgements, and the books that must balance
after any fault.

The books: every acknowledged contact event has exactly one processed id, one contact
row and one decision (a decision published again keeps its decision id); each case
counts exactly the contacts attached to it; one customer per identity and one open
case per customer and topic; every agent's load on a channel equals its open assigned
(or offered) cases there and never exceeds its capacity; the outbox is empty.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import func, select
from sqlmodel import Session, col

from tests.builders import agent, event_json
from tests.e2e.conftest import wait_until
from tests.e2e.progress import wait_for_progress
from ticketrouter.adapters.database import Database
from ticketrouter.adapters.orm import (
    AgentChannelRow,
    CaseRow,
    ContactRow,
    CustomerRow,
    OutboxRow,
    ProcessedEventRow,
)
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.config import Settings, to_env
from ticketrouter.domain.channels import Presence

CHANNELS = ("email", "chat", "voice")
TOPICS = ("general.q0", "general.q1", "general.q2", "general.q3")
# Also the group's rebalance timeout: joins and leaves settle within seconds.
MAX_POLL_INTERVAL_MS = 4000


# --- worker processes ------------------------------------------------------------------


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        **to_env(settings),
        "TICKETROUTER_MAX_POLL_INTERVAL_MS": str(MAX_POLL_INTERVAL_MS),
        "TICKETROUTER_METRICS_ADDRESS": "127.0.0.1:0",
        "TICKETROUTER_LOG_LEVEL": "INFO",
        **extra,
    }


# "15:04:05 ERROR   ticketrouter.worker: ..." as the text log formatter writes it.
_OWN_FAILURE = re.compile(r"^\S+ (ERROR|CRITICAL)\s+ticketrouter[.:]")


@dataclass
class WorkerProcess:
    """One `ticketrouter worker` process writing to its own log file."""

    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def assigned(self, count: int | None = None) -> bool:
        """Its latest assignment holds `count` partitions (some, if None)."""
        lines = [line for line in self.text().splitlines() if "partitions assigned" in line]
        if not lines:
            return False
        held = int(lines[-1].split("count=", 1)[1].split()[0])
        return held > 0 if count is None else held == count

    def alive(self) -> bool:
        return self.process.poll() is None

    def own_failures(self) -> list[str]:
        """Log records of the router's own code at ERROR or above.

        The Kafka client logs its own recoverable socket errors (with tracebacks)
        when the broker drops a connection; those are the library's business and
        the router's guarantees are checked by counts, so they are left out here.
        """
        return [line for line in self.text().splitlines() if _OWN_FAILURE.match(line)]

    def kill(self) -> None:
        """SIGKILL: no shutdown path runs, whatever the worker was doing."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 30) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)

    def processed(self) -> int:
        """The count a worker logs when it stops cleanly."""
        text = self.text()
        return int(text.rsplit("processed=", 1)[1].split()[0]) if "processed=" in text else 0


@dataclass
class Fleet:
    """Starts workers and makes sure none outlives the test."""

    settings: Settings
    logs: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, name: str, **env: str) -> WorkerProcess:
        log = self.logs / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "ticketrouter.entrypoints.cli", "worker"],
            env=worker_env(self.settings, **env),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        worker = WorkerProcess(process, log)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.alive():
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.started:
            worker.stop(timeout=20)

    def logs_text(self) -> str:
        return "\n".join(f"--- {w.log.name}\n{w.text()[-4000:]}" for w in self.started)


@contextmanager
def fleet(settings: Settings, logs: Path) -> Iterator[Fleet]:
    workers = Fleet(settings, logs)
    try:
        yield workers
    finally:
        workers.stop_all()


# --- traffic ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contact:
    event_id: str
    key: bytes
    value: bytes


def contacts(prefix: str, count: int, customers: int, start: int = 0) -> list[Contact]:
    """Small contact.received events; customers come back on every channel and topic."""
    made = []
    for n in range(start, start + count):
        email = f"{prefix}.c{n % customers}@example.com"
        event = event_json(
            f"{prefix}-{n}",
            [("email", email)],
            channel=CHANNELS[n % len(CHANNELS)],
            topic=TOPICS[n // len(CHANNELS) % len(TOPICS)],
        )
        made.append(
            Contact(
                event["event_id"], email.encode(), json.dumps(event, separators=(",", ":")).encode()
            )
        )
    return made


class Publisher:
    """Publishes contact events and keeps the ones the broker acknowledged.

    A send that fails is sent again: the topic may then hold the event twice, which
    the router must absorb (event_id is the idempotency key).
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            linger_ms=5,
            reconnect_backoff_max_ms=1000,
            client_id="fault-test-publisher",
        )
        self.acknowledged: list[str] = []
        self.resent = 0

    def publish(self, items: Sequence[Contact], rate: float | None = None) -> None:
        pending = list(items)
        for _attempt in range(5):
            futures = []
            start = time.monotonic()
            for n, item in enumerate(pending):
                if rate is not None:
                    time.sleep(max(0.0, start + n / rate - time.monotonic()))
                futures.append(
                    (item, self.producer.send(self.topic, key=item.key, value=item.value))
                )
            self.producer.flush(timeout=120)
            failed = []
            for item, future in futures:
                try:
                    future.get(timeout=0)
                except Exception:
                    failed.append(item)
                else:
                    self.acknowledged.append(item.event_id)
            if not failed:
                return
            self.resent += len(failed)
            pending = failed
        raise AssertionError(f"{len(pending)} events never acknowledged by the broker")

    def close(self) -> None:
        self.producer.close(timeout=5)


class Background:
    """Runs one function on a thread; `join` re-raises what it raised."""

    def __init__(self, target: Callable[[], None]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                target()
            except BaseException as err:
                self.error = err

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"background work still running after {timeout}s")
        if self.error is not None:
            raise self.error

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()


# --- the database side -----------------------------------------------------------------


def seed_agents(database: Database, count: int, capacity: dict[str, int] | None = None) -> None:
    """Few slots: contention for the same agents is certain, so loads are exercised."""
    with SqlUnitOfWork(database.writer) as uow:
        for n in range(count):
            uow.repo.upsert_agent(
                agent(
                    f"agent-{n}",
                    {"general": 2},
                    capacity=capacity or {"email": 3, "chat": 2, "voice": 1},
                    presence=Presence.AVAILABLE,
                )
            )
        uow.commit()


def count_rows(database: Database, table: Any) -> int:
    with Session(database.reader) as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def processed_count(database: Database) -> int:
    return count_rows(database, ProcessedEventRow)


def wait_processed(database: Database, count: int, workers: Fleet | None = None) -> None:
    """Until `count` events are processed; fails once the count stops moving (see
    tests.e2e.progress), or at once when no worker is left running."""

    def processed() -> int:
        if workers is not None and not any(w.alive() for w in workers.started):
            raise AssertionError("no worker is running\n" + workers.logs_text())
        return processed_count(database)

    try:
        wait_for_progress(processed, count, "processed events")
    except AssertionError as err:
        logs = workers.logs_text() if workers else ""
        raise AssertionError(f"{err}\n{logs}") from None


def check_books(database: Database, published: Sequence[str], customers: int) -> None:
    """Every acknowledged event processed once, with its effects once (see module doc)."""
    expected = set(published)
    wait_until(lambda: count_rows(database, OutboxRow) == 0, 30, "an empty outbox")
    with Session(database.reader) as session:
        processed = {r for (r,) in session.execute(select(col(ProcessedEventRow.event_id)))}
        contact_cases = _contact_cases(session)
        cases = session.execute(
            select(
                col(CaseRow.id),
                col(CaseRow.customer_id),
                col(CaseRow.topic),
                col(CaseRow.status),
                col(CaseRow.contact_count),
            )
        ).all()
        live_customers = session.execute(
            select(func.count())
            .select_from(CustomerRow)
            .where(col(CustomerRow.merged_into).is_(None))
        ).scalar_one()
    assert processed == expected, _difference("processed", processed, expected)
    assert set(contact_cases) == expected, _difference("contacts", set(contact_cases), expected)
    attached = Counter(contact_cases.values())
    for case_id, _, _, _, contact_count in cases:
        assert contact_count == attached[case_id], f"case {case_id} counted a contact twice"
    open_cases = Counter((c, t) for _, c, t, status, _ in cases if status != "resolved")
    assert max(open_cases.values()) == 1, "two open cases for one customer and topic"
    assert live_customers == customers, f"{live_customers} customers for {customers} people"
    check_loads(database)


def check_loads(database: Database) -> None:
    with Session(database.reader) as session:
        slots = session.execute(
            select(
                col(AgentChannelRow.agent_id),
                col(AgentChannelRow.channel),
                col(AgentChannelRow.capacity),
                col(AgentChannelRow.load),
            )
        ).all()
        owned = {
            (a, c): n
            for a, c, n in session.execute(
                select(col(CaseRow.owner_agent_id), col(CaseRow.channel), func.count())
                # An offer reserves the slot until it is accepted, declined or expires.
                .where(col(CaseRow.status).in_(("assigned", "offered")))
                .group_by(col(CaseRow.owner_agent_id), col(CaseRow.channel))
            )
        }
    assert any(load for _, _, _, load in slots), "no agent was ever assigned"
    assert set(owned) <= {(a, c) for a, c, _, _ in slots}, "a case owned on a channel without slots"
    for agent_id, channel, capacity, load in slots:
        assert load <= capacity, f"{agent_id} over capacity on {channel}: {load} > {capacity}"
        assert load == owned.get((agent_id, channel), 0), f"{agent_id} load drifted on {channel}"


def _contact_cases(session: Session) -> dict[str, str]:
    rows = session.execute(select(col(ContactRow.event_id), col(ContactRow.case_id)))
    return {event_id: case_id for event_id, case_id in rows}


def _difference(what: str, got: set[str], expected: set[str]) -> str:
    missing, extra = sorted(expected - got), sorted(got - expected)
    return f"{what}: {len(missing)} missing {missing[:5]}, {len(extra)} unexpected {extra[:5]}"


# --- the Kafka side --------------------------------------------------------------------


def read_topic(
    bootstrap: str, topic: str, enough: Callable[[list[Any]], bool], timeout: float
) -> list[Any]:
    """Records of every partition from the start, until `enough` says so or time runs out.

    Counting needs the records: the embedded broker's end offsets may be inaccurate.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="fault-test-reader"
    )
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] = set()
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        while not enough(records) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


class EveryEvent:
    """For read_topic: enough once every expected event id has been seen. Called after
    each poll, it parses only the records that arrived since the last call."""

    def __init__(self, expected: set[str]) -> None:
        self.expected = expected
        self.seen: set[str] = set()
        self.read = 0

    def __call__(self, records: list[Any]) -> bool:
        self.seen.update(json.loads(r.value)["event_id"] for r in records[self.read :])
        self.read = len(records)
        return self.seen >= self.expected


def check_decisions(database: Database, settings: Settings, published: Sequence[str]) -> None:
    """One decision per event, for the case the database holds, keyed by its customer."""
    expected = set(published)
    every_event = EveryEvent(expected)

    records = read_topic(settings.kafka_bootstrap, settings.decisions_topic, every_event, 60)
    decided: dict[str, set[str]] = defaultdict(set)
    for record in records:
        decision = json.loads(record.value)
        decided[decision["event_id"]].add(decision["decision_id"])
        assert record.key.decode() == decision["customer_id"], "decision not keyed by customer"
    assert set(decided) == expected, _difference("decisions", set(decided), expected)
    twice = [e for e, ids in decided.items() if len(ids) > 1]
    assert not twice, f"{len(twice)} events were decided more than once, e.g. {twice[:3]}"
    with Session(database.reader) as session:
        contact_cases = _contact_cases(session)
    for record in records:
        decision = json.loads(record.value)
        assert decision["case_id"] == contact_cases[decision["event_id"]]


class CommittedOffsets:
    """Reads a group's committed offsets without joining the group."""

    def __init__(self, bootstrap: str, group: str, topic: str, partitions: int) -> None:
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            enable_auto_commit=False,
            client_id="fault-test-offsets",
        )

    def read(self) -> dict[int, int]:
        return {tp.partition: self.consumer.committed(tp) or 0 for tp in self.partitions}

    def total(self) -> int:
        return sum(self.read().values())

    def close(self) -> None:
        self.consumer.close(autocommit=False)


def wait_committed(offsets: CommittedOffsets, count: int) -> None:
    """Until the group's committed offsets add up to `count`, as long as they keep moving;
    never beyond it, since that many events were published."""
    committed = wait_for_progress(offsets.total, count, "committed offsets")
    assert committed == count, f"{committed:,} offsets committed for {count:,} events"
