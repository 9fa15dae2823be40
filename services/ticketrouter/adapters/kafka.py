"""kafka-python clients, topic set-up and the outbox relay to `routing-decisions`."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from sqlalchemy import Engine, delete, select
from sqlmodel import Session, col

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


class OutboxRelay:
    """Publishes decisions committed to the outbox, then deletes them.

    Rows are deleted in the same transaction that is committed only after the
    broker has acknowledged every one of them, so a crash or a failed delivery in
    between publishes again rather than losing a decision (consumers de-duplicate by
    decision_id). Each decision is keyed by its customer id, in outbox order.
    """

    def __init__(
        self, engine: Engine, producer: KafkaProducer, topic: str, batch: int = 2000
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._topic = topic
        self._batch = batch

    def drain(self) -> int:
        published = 0
        while True:
            with Session(self._engine) as session:
                rows = session.execute(
                    select(col(OutboxRow.id), col(OutboxRow.key), col(OutboxRow.payload))
                    .order_by(col(OutboxRow.id))
                    .limit(self._batch)
                ).all()
                if not rows:
                    return published
                ids = [row_id for row_id, _, _ in rows]
                # Delete first: with PostgreSQL this locks the rows so two relays
                # never publish the same decision twice.
                deleted = (
                    session.connection()
                    .execute(delete(OutboxRow).where(col(OutboxRow.id).in_(ids)))
                    .rowcount
                )
                if deleted != len(ids):
                    session.rollback()
                    continue
                sent = [
                    self._producer.send(
                        self._topic,
                        key=key.encode(),
                        value=payload,
                        headers=[("content-type", b"application/json")],
                    )
                    for _, key, payload in rows
                ]
                self._producer.flush(timeout=30)
                # flush() returns once every record is acknowledged *or failed*: a
                # delivery error must keep the rows, or the decision is lost.
                for future in sent:
                    future.get(timeout=0)
                session.commit()
                published += len(rows)
