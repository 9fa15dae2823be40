"""The dead-letter path always writes, against a real broker: a copy the producer
refuses as too large goes without its value instead of being retried forever."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from tests.e2e.faults.harness import read_topic
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.dead_letters import (
    DeadLetterQueue,
    DeadLetterRefused,
    dead_letter_copy,
)
from ticketrouter.adapters.kafka import create_producer, ensure_topics

pytestmark = pytest.mark.e2e


@dataclass
class Record:
    value: bytes
    offset: int
    key: bytes = b"customer-1"
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = "contact-events"
    partition: int = 0


def test_a_copy_the_producer_refuses_as_too_large_goes_without_its_value(
    broker: EmbeddedBroker,
) -> None:
    topic = f"dlq-{uuid.uuid4().hex[:8]}"
    ensure_topics(broker.bootstrap, [topic], 1)
    # A producer with a small request limit stands in for a broker's message.max.bytes.
    producer = create_producer(broker.bootstrap, max_request_size=20_000)
    try:
        letters = [
            dead_letter_copy(Record(b"x" * 50_000, 7), "too_large", "50000 bytes > 16384"),
            dead_letter_copy(Record(b"{oops", 8), "bad_json", "Failed to load JSON"),
        ]
        DeadLetterQueue(producer, topic).send(letters)
    finally:
        producer.close(5)
    dead = read_topic(broker.bootstrap, topic, lambda got: len(got) >= 2, 30)
    by_source = {dict(r.headers)["dlq-source"]: r for r in dead}
    big = by_source[b"contact-events/0/7"]
    assert big.value in (b"", None) and big.key == b"customer-1"
    assert dict(big.headers)["dlq-truncated"] == b"true"
    assert dict(big.headers)["dlq-reason"] == b"too_large"
    assert by_source[b"contact-events/0/8"].value == b"{oops"


def test_a_broker_that_refuses_even_a_bare_copy_stops_the_worker(broker: EmbeddedBroker) -> None:
    topic = f"dlq-{uuid.uuid4().hex[:8]}"
    ensure_topics(broker.bootstrap, [topic], 1)
    producer = create_producer(broker.bootstrap, max_request_size=64)
    try:
        letter = dead_letter_copy(Record(b"x" * 1000, 1), "too_large", "1000 bytes > 512")
        with pytest.raises(DeadLetterRefused):
            DeadLetterQueue(producer, topic).send([letter])
    finally:
        producer.close(5)
