"""Dead-lettered events back onto the input topic, once a fix is deployed.

Each copy goes back with its original key, value and headers (the `dlq-*` headers
dropped, `dlq-replayed-from` added), and the replay's own consumer group remembers
how far it got, so a second run does not send the same copies again. Nothing is
doubled even when a run stops between publishing and committing its position, or is
told to start over: the worker skips an event whose `event_id` it has already
processed. A copy whose value was cut to fit the DLQ (`dlq-truncated`) cannot be
replayed; it is counted and left.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

REPLAYED_FROM = "dlq-replayed-from"
POLL_MS = 1000
BATCH = 500
IDLE_POLLS_AT_END = 2  # empty polls in a row: caught up


class NoDeadLetterTopic(Exception):
    """The DLQ topic does not exist on this broker."""


@dataclass
class ReplayReport:
    replayed: int = 0
    truncated: int = 0  # cut to fit the DLQ: the original is not there to replay
    passed_over: Counter[str] = field(default_factory=Counter)  # other reasons, by reason

    @property
    def read(self) -> int:
        return self.replayed + self.truncated + sum(self.passed_over.values())


def replay_dead_letters(
    consumer: KafkaConsumer,
    producer: KafkaProducer,
    dlq_topic: str,
    input_topic: str,
    reasons: frozenset[str] = frozenset(),
    from_beginning: bool = False,
    progress: Callable[[ReplayReport], None] = lambda report: None,
) -> ReplayReport:
    """Replays every copy after the group's position (or from the start) until it
    has caught up, leaving copies dead-lettered after the replay began (an event
    that is still invalid comes straight back) for the next run; with `reasons`,
    only copies dead-lettered for one of them (the rest are passed over, and stay).

    The end is found by reading, not by asking for the end offsets, which some
    Kafka-compatible brokers report short after a batch of several records."""
    numbers = consumer.partitions_for_topic(dlq_topic)
    if not numbers:
        raise NoDeadLetterTopic(f"no topic {dlq_topic!r} on this broker")
    partitions = [TopicPartition(dlq_topic, p) for p in sorted(numbers)]
    consumer.assign(partitions)
    if from_beginning:
        consumer.seek_to_beginning(*partitions)
    began_ms = time.time() * 1000
    report = ReplayReport()
    reached_now: set[TopicPartition] = set()
    idle = 0
    while idle < IDLE_POLLS_AT_END and len(reached_now) < len(partitions):
        batch = consumer.poll(timeout_ms=POLL_MS, max_records=BATCH)
        idle = 0 if batch else idle + 1
        deliveries: list[Any] = []
        positions: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            for record in records:
                if tp in reached_now:
                    break
                if record.timestamp > began_ms:
                    reached_now.add(tp)
                    consumer.pause(tp)
                    break
                positions[tp] = record.offset + 1
                delivery = _replay_one(record, producer, input_topic, reasons, report)
                if delivery is not None:
                    deliveries.append(delivery)
        producer.flush(timeout=30)
        for delivery in deliveries:
            delivery.get(timeout=0)  # raises if the broker did not take one
        report.replayed += len(deliveries)
        # Only now, with every copy of the batch durable on the input topic, and
        # never past a copy left for the next run.
        if positions:
            consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in positions.items()})
        progress(report)
    return report


def _replay_one(
    record: Any,
    producer: KafkaProducer,
    input_topic: str,
    reasons: frozenset[str],
    report: ReplayReport,
) -> Any | None:
    headers = list(record.headers or [])
    ours = {k: v for k, v in headers if k.startswith("dlq-")}
    reason = ours.get("dlq-reason", b"").decode(errors="replace")
    if reasons and reason not in reasons:
        report.passed_over[reason or "(none)"] += 1
        return None
    if "dlq-truncated" in ours:
        report.truncated += 1
        return None
    source = f"{record.topic}/{record.partition}/{record.offset}".encode()
    original = [(k, v) for k, v in headers if not k.startswith("dlq-")]
    return producer.send(
        input_topic,
        key=record.key,
        value=record.value,
        headers=[*original, (REPLAYED_FROM, source)],
    )
