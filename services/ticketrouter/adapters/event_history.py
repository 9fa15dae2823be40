"""Past contact events for a replay: a topic read from the beginning, or a file of
JSON lines. Reading changes nothing: no consumer group, no committed offsets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from ticketrouter.adapters.kafka import RECONNECT_BACKOFF_MAX_MS

# A topic read stops when it reached the end offsets taken at the start, or after this
# long without a single record (a partition that cannot be fetched).
IDLE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class RawEvent:
    payload: bytes
    content_type: str | None = None


class NoSuchTopic(Exception):
    pass


class EventHistory:
    """A sized, one-pass source of raw events (`total` may be None when unknown)."""

    total: int | None = None

    def __iter__(self) -> Iterator[RawEvent]:
        raise NotImplementedError


class FileHistory(EventHistory):
    """One event per line, in the protobuf JSON mapping (blank lines are skipped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as counting:
            self.total = sum(1 for line in counting if line.strip())

    def __iter__(self) -> Iterator[RawEvent]:
        with self.path.open("rb") as lines:
            for line in lines:
                if line.strip():
                    yield RawEvent(line.strip())


class TopicHistory(EventHistory):
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,  # no group: nothing to commit, no one else's offsets moved
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="ticketrouter-replay",
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )
        partitions = self.consumer.partitions_for_topic(topic)
        if not partitions:
            self.consumer.close()
            raise NoSuchTopic(topic)
        self.partitions = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        start = self.consumer.beginning_offsets(self.partitions)
        self.end: dict[TopicPartition, int] = self.consumer.end_offsets(self.partitions)
        self.total = sum(self.end[tp] - start[tp] for tp in self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)

    def __iter__(self) -> Iterator[RawEvent]:
        try:
            waiting = {tp for tp in self.partitions if self.end[tp] > 0}
            learned: set[TopicPartition] = set()
            last_record = time.monotonic()
            while waiting and time.monotonic() - last_record < IDLE_SECONDS:
                for tp, records in self.consumer.poll(timeout_ms=500).items():
                    last_record = time.monotonic()
                    self._learn_end(tp, learned)
                    for record in records:
                        if record.offset >= self.end[tp]:
                            break
                        yield RawEvent(record.value or b"", _content_type(record.headers))
                for tp in list(waiting):
                    if self.consumer.position(tp) >= self.end[tp]:
                        waiting.discard(tp)
                        self.consumer.pause(tp)  # what arrived since the start is not ours
        finally:
            self.consumer.close(autocommit=False)

    def _learn_end(self, tp: TopicPartition, learned: set[TopicPartition]) -> None:
        """Some brokers (Tansu) answer the end-offset request with the start of the
        last record batch, not its end; the high watermark of the first fetch is
        right, so the end is the larger of the two, learned once per partition."""
        if tp in learned:
            return
        learned.add(tp)
        highwater = self.consumer.highwater(tp)
        if highwater is not None and highwater > self.end[tp]:
            self.total = (self.total or 0) + highwater - self.end[tp]
            self.end[tp] = highwater


def _content_type(headers: list[tuple[str, bytes]] | None) -> str | None:
    for key, value in headers or ():
        if key.lower() == "content-type":
            return value.decode(errors="replace")
    return None
