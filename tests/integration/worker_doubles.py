"""Test doubles for the worker's loop: a consumer that hands out prepared batches
and records commits, and a producer that records what it sent (and can fail)."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from tests.builders import event_json

TP = TopicPartition("contact-events", 0)


@dataclass
class Record:
    offset: int
    value: bytes
    topic: str = "contact-events"
    partition: int = 0
    key: bytes = b"k"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class ScriptedConsumer:
    """Hands out prepared batches; records commits and pauses."""

    def __init__(self, *batches: list[Record]) -> None:
        self.batches = deque({TP: batch} for batch in batches)
        self.commits: list[dict[TopicPartition, int]] = []
        self.end_offset: int | None = None
        self.assigned = {TP}
        self.pauses = 0

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        return self.batches.popleft() if self.batches else {}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def pause(self, *partitions: TopicPartition) -> None:
        self.pauses += 1

    def resume(self, *partitions: TopicPartition) -> None:
        pass

    def seek(self, partition: TopicPartition, offset: int) -> None:
        pass

    def highwater(self, partition: TopicPartition) -> int | None:
        return self.end_offset

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int | None]:
        return {tp: self.end_offset for tp in partitions}


class Delivery:
    """A future that completes at the producer's next flush: acknowledged, or failed
    when that flush fails (the broker was away)."""

    def __init__(self) -> None:
        self.is_done = False
        self.exception: Exception | None = None

    def succeeded(self) -> bool:
        return self.is_done and self.exception is None

    def get(self, timeout: float | None = None) -> None:
        if self.exception is not None:
            raise self.exception


class RecordingProducer:
    def __init__(self, failing_flushes: int = 0) -> None:
        self.sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []
        self.failing_flushes = failing_flushes
        self._pending: list[Delivery] = []

    def send(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes = b"",
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Delivery:
        self.sent.append((topic, value, headers or []))
        delivery = Delivery()
        self._pending.append(delivery)
        return delivery

    def flush(self, timeout: float | None = None) -> None:
        pending, self._pending = self._pending, []
        failure = None
        if self.failing_flushes:
            self.failing_flushes -= 1
            failure = KafkaTimeoutError("broker away")
        for delivery in pending:
            delivery.is_done, delivery.exception = True, failure
        if failure is not None:
            raise failure


def valid_record(offset: int) -> Record:
    return Record(
        offset, json.dumps(event_json(f"e{offset}", [("email", f"c{offset}@x.com")])).encode()
    )
