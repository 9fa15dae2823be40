"""The dead-letter topic: a copy of each rejected event, which must always be writable.

A copy keeps the original key, value and headers and adds `dlq-reason`, `dlq-error`
and `dlq-source` (topic/partition/offset). A copy that would not fit in one produce
request is cut to fit: the first COPY_VALUE_BYTES of the value, short headers and key,
plus `dlq-truncated` and `dlq-original-bytes`. If the broker still refuses a copy as too
large, a bare copy (reason headers only) takes its place, so one huge event can never
hold the worker in a retry loop. Only failures that pass (the broker away) are retried,
by the caller, before the originals' offsets are committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

log = logging.getLogger(__name__)

# kafka-python's default max_request_size; the room left is for the record's framing.
PRODUCER_REQUEST_BYTES = 1_048_576
COPY_BUDGET_BYTES = PRODUCER_REQUEST_BYTES - 64 * 1024
COPY_VALUE_BYTES = 64 * 1024
COPY_KEY_BYTES = 4 * 1024
COPY_HEADER_BYTES = 1024
COPY_HEADERS = 32
ERROR_TEXT_BYTES = 1000

Header = tuple[str, bytes]


class DeadLetterRefused(Exception):
    """The broker refused even a bare copy: a person must look (the worker halts)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: list[Header]


def _size(key: bytes | None, value: bytes, headers: Sequence[Header]) -> int:
    return len(key or b"") + len(value) + sum(len(k) + len(v) for k, v in headers)


def dead_letter_copy(
    record: Any, reason: str, detail: str, budget: int = COPY_BUDGET_BYTES
) -> DeadLetter:
    """The copy of `record` to dead-letter, cut to `budget` bytes when it is larger."""
    value: bytes = record.value or b""
    original: list[Header] = list(record.headers or [])
    ours: list[Header] = [
        ("dlq-reason", reason.encode()),
        ("dlq-error", detail.encode()[:ERROR_TEXT_BYTES]),
        ("dlq-source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
    ]
    if _size(record.key, value, original + ours) <= budget:
        return DeadLetter(record.key, value, original + ours)
    kept = [(k[:COPY_HEADER_BYTES], v[:COPY_HEADER_BYTES]) for k, v in original[:COPY_HEADERS]]
    key = record.key[:COPY_KEY_BYTES] if record.key is not None else None
    marks: list[Header] = [
        ("dlq-truncated", b"true"),
        ("dlq-original-bytes", str(_size(record.key, value, original)).encode()),
    ]
    return DeadLetter(key, value[:COPY_VALUE_BYTES], kept + ours + marks)


def bare_copy(letter: DeadLetter) -> DeadLetter:
    """Only our headers: what to send when a broker refuses even a cut copy."""
    ours = [(k, v) for k, v in letter.headers if k.startswith("dlq-")]
    if not any(k == "dlq-truncated" for k, _ in ours):
        ours.append(("dlq-truncated", b"true"))
    key = letter.key[:256] if letter.key is not None else None
    return DeadLetter(key, b"", ours)


def _too_large(err: KafkaError) -> bool:
    # MessageSizeTooLargeError (raised by send, or the broker's MESSAGE_TOO_LARGE) and
    # RecordListTooLarge: the same copy will never fit, so retrying it cannot help.
    return "TooLarge" in type(err).__name__


class DeadLetterQueue:
    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Every copy durable on return; raises KafkaError for a failure that may pass
        (then the caller retries them all), DeadLetterRefused when one can never go."""
        pending = []
        for letter in letters:
            try:
                pending.append((letter, self._produce(letter)))
            except KafkaError as err:  # kafka-python checks the size in send() itself
                self._send_bare(letter, err)
        self._producer.flush(timeout=30)
        for letter, future in pending:
            try:
                future.get(timeout=0)  # raises the delivery error, if any
            except KafkaError as err:
                self._send_bare(letter, err)

    def _produce(self, letter: DeadLetter) -> Any:
        return self._producer.send(
            self._topic, key=letter.key, value=letter.value, headers=letter.headers
        )

    def _send_bare(self, letter: DeadLetter, err: KafkaError) -> None:
        if not _too_large(err):
            raise err
        log.error(
            "dead-letter copy refused as too large; sending it without its value",
            extra={"error": f"{type(err).__name__}: {str(err)[:200]}"},
        )
        try:
            future = self._produce(bare_copy(letter))
            self._producer.flush(timeout=30)
            future.get(timeout=0)
        except KafkaError as again:
            if _too_large(again):
                raise DeadLetterRefused(f"the broker refuses even a bare copy: {again}") from again
            raise
