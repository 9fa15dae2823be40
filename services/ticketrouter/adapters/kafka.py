"""kafka-python clients, topic set-up and the outbox relay to `routing-decisions`."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from sqlalchemy import Engine, delete, func, select
from sqlmodel import col

from ticketrouter.adapters.orm import OutboxRow

log = logging.getLogger(__name__)

# kafka-python doubles its reconnect wait up to 30 s by default, so a broker back after
# a restart could wait that long for its clients; the Java client's ceiling is 1 s.
RECONNECT_BACKOFF_MAX_MS = 1_000


def ensure_topics(bootstrap: str, names: list[str], partitions: int, timeout: float = 30) -> None:
    """Create missing topics; waits for the broker to answer (it may be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ticketrouter-admin")
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if missing:
            # Another process may have created it meanwhile.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    finally:
        admin.close()


def create_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "linger_ms": 5,
        "retries": 5,
        "client_id": "ticketrouter",
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
    }
    options.update(overrides)
    return KafkaProducer(**options)


def create_consumer(
    bootstrap: str,
    topic: str,
    group_id: str,
    max_records: int,
    max_poll_interval_ms: int,
    **overrides: Any,
) -> KafkaConsumer:
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,  # offsets are committed after the database commit
        "auto_offset_reset": "earliest",
        "max_poll_records": max_records,
        "max_poll_interval_ms": max_poll_interval_ms,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 1_000,
        # Tansu answers a waiting fetch only when the wait expires, so the wait is
        # the floor of routing latency: keep it short (the default 500 ms would add
        # ~140 ms at p50).
        "fetch_max_wait_ms": 20,
        "client_id": "ticketrouter-worker",
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
    }
    options.update(overrides)
    consumer = KafkaConsumer(**options)
    consumer.subscribe([topic], listener=_RebalanceLog())
    return consumer


class _RebalanceLog(ConsumerRebalanceListener):  # type: ignore[misc]
    """Rebalances explain most redeliveries: make them visible."""

    def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            log.info("partitions revoked", extra={"count": len(revoked)})

    def on_partitions_assigned(self, assigned: Any) -> None:
        partitions = ",".join(sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))
        log.info("partitions assigned", extra={"count": len(assigned), "partitions": partitions})


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A decision as committed to the outbox: its row id, key and payload."""

    id: int
    key: str
    payload: bytes


_HEADERS = [("content-type", b"application/json")]


class OutboxRelay:
    """Publishes decisions committed to the outbox and deletes the rows the broker
    acknowledged; never holds the database writer across Kafka I/O.

    - `send`: right after a transaction commits, its decisions are produced
      asynchronously, in commit order, while the next batch is routed;
    - `settle` (non-blocking) deletes the rows whose delivery the broker confirmed, in
      one short transaction; a failed delivery keeps its row;
    - `drain` waits for what is in flight, then publishes the rows left behind (a
      failed delivery, a crash before delivery, another process that died) in outbox
      order. A row is left behind once it has waited a whole `drain` interval, so one
      process does not publish what another is about to; after a failed delivery
      every row goes in order, and new decisions wait for them rather than overtake.

    Delivery is at least once: a crash between acknowledgement and deletion publishes
    a decision again, with the same decision_id, for consumers to de-duplicate.
    """

    def __init__(
        self,
        engine: Engine,
        producer: KafkaProducer,
        topic: str,
        batch: int = 2000,
        reader: Engine | None = None,
    ) -> None:
        self._engine = engine
        self._reader = reader or engine
        self._producer = producer
        self._topic = topic
        self._batch = batch
        self._lock = threading.Lock()  # the worker, housekeeping and gRPC threads share it
        self._in_flight: dict[int, Any] = {}  # row id -> future, in send order
        self._backlog = False  # a delivery failed: everything goes through drain, in order
        self._left_behind_below = 0  # rows with smaller ids waited a whole drain interval

    def send(self, messages: Sequence[OutboxMessage]) -> None:
        with self._lock:
            if self._backlog:
                return  # they stay in the outbox; drain publishes them after the older ones
            for message in messages:
                self._in_flight[message.id] = self._produce(message)

    def settle(self) -> int:
        """Delete the rows whose delivery completed; returns how many."""
        delivered: list[int] = []
        with self._lock:
            for row_id, future in list(self._in_flight.items()):
                if not future.is_done:
                    break  # keep order: later ones are settled next time
                del self._in_flight[row_id]
                if future.succeeded():
                    delivered.append(row_id)
                else:
                    self._backlog = True
        self._delete(delivered)
        return len(delivered)

    def drain(self) -> int:
        """Wait for the deliveries in flight, then publish what was left behind;
        returns the number of decisions published. Raises KafkaError when the broker
        does not acknowledge them (their rows stay)."""
        try:
            self._producer.flush(timeout=30)
        finally:
            published = self.settle()
        while True:
            rows = self._left_behind()
            if not rows:
                with self._lock:
                    self._backlog = False  # everything older went out: send directly again
                return published
            with self._lock:
                futures = {row.id: self._produce(row) for row in rows}
            try:
                self._producer.flush(timeout=30)
            finally:
                delivered = [i for i, f in futures.items() if f.is_done and f.succeeded()]
                self._delete(delivered)
            published += len(delivered)
            if len(delivered) < len(rows):
                failed = next(f for f in futures.values() if not (f.is_done and f.succeeded()))
                raise failed.exception or KafkaError("decisions not acknowledged in time")

    def _left_behind(self) -> list[OutboxMessage]:
        with self._lock:
            backlog, below, skip = self._backlog, self._left_behind_below, set(self._in_flight)
        query = select(col(OutboxRow.id), col(OutboxRow.key), col(OutboxRow.payload))
        with self._reader.connect() as connection:
            newest = connection.execute(select(func.max(col(OutboxRow.id)))).scalar()
            if not backlog:
                query = query.where(col(OutboxRow.id) < below)
            rows = connection.execute(query.order_by(col(OutboxRow.id)).limit(self._batch)).all()
        with self._lock:
            self._left_behind_below = max(self._left_behind_below, (newest or 0) + 1)
        return [OutboxMessage(i, k, p) for i, k, p in rows if i is not None and i not in skip]

    def _produce(self, message: OutboxMessage) -> Any:
        return self._producer.send(
            self._topic, key=message.key.encode(), value=message.payload, headers=_HEADERS
        )

    def _delete(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._engine.begin() as connection:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                connection.execute(delete(OutboxRow).where(col(OutboxRow.id).in_(chunk)))
