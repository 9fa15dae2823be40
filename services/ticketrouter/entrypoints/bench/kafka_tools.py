"""Kafka plumbing for the bench: fresh topics, timed group consumers, reading a topic back."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from ticketrouter.adapters.kafka import create_consumer
from ticketrouter.entrypoints.bench.reporting import BenchFailed, say

# Bounded group timings: a first join costs ~3 s rather than a session timeout.
GROUP_OPTIONS: dict[str, Any] = {"session_timeout_ms": 6_000, "heartbeat_interval_ms": 1_000}
MAX_POLL_INTERVAL_MS = 10_000


@dataclass(frozen=True, slots=True)
class Topics:
    contacts: str
    decisions: str
    dlq: str

    @classmethod
    def fresh(cls, label: str) -> Topics:
        base = f"bench-{uuid.uuid4().hex[:8]}-{label}"
        return cls(
            f"{base}.contact-events", f"{base}.routing-decisions", f"{base}.contact-events.dlq"
        )

    @property
    def names(self) -> list[str]:
        return [self.contacts, self.decisions, self.dlq]


class TimedConsumer:
    """A KafkaConsumer that notes when records first arrived: rates exclude the group join."""

    def __init__(self, consumer: KafkaConsumer) -> None:
        self._consumer = consumer
        self.first_records_at: float | None = None

    def poll(self, *args: Any, **kwargs: Any) -> Any:
        polled = self._consumer.poll(*args, **kwargs)
        if polled and self.first_records_at is None:
            self.first_records_at = time.perf_counter()
        return polled

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def group_consumer(servers: str, topic: str, group: str, max_records: int) -> TimedConsumer:
    return TimedConsumer(
        create_consumer(
            servers,
            topic,
            group,
            max_records,
            MAX_POLL_INTERVAL_MS,
            client_id="ticketrouter-bench",
            **GROUP_OPTIONS,
        )
    )


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def read_topic(servers: str, topic: str, timeout: float = 120) -> list[Any]:
    """Every record of `topic`, read without a consumer group.

    Counting needs the records themselves: Tansu answers ListOffsets(latest) with the
    base offset of the last record batch, so end offsets alone undercount.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=servers, client_id="ticketrouter-bench-reader", enable_auto_commit=False
    )
    try:
        partitions = _partitions(consumer, topic)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise BenchFailed(f"could not read {topic} to its end within {timeout:.0f}s")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def delete_topics(servers: str, names: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=servers, client_id="ticketrouter-bench-admin")
    try:
        admin.delete_topics(names)
    except Exception as err:  # best effort: a leftover bench topic harms nobody
        say(f"could not delete bench topics {names}: {err}")
    finally:
        admin.close()
