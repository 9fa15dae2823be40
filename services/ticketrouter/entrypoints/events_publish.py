"""`ticketrouter events publish FILE|-`: contact events (JSON lines, the README's
format) onto the input topic, as a platform would publish them.

Each line is checked against the contract before it is sent, so a mistake is named
with its line number here instead of surfacing later as a dead letter; valid lines
go out whatever the others hold. The key is the event's first identity, normalised
(`email:ana.lopez@example.com`), so one customer's events share a partition and keep
their order however the address is spelled. A contact.abandoned or contact.ended
goes keyed like the contact it ends when that contact.received is in the same input
(so it cannot overtake it on another partition), else by the contact's id; other
events without identities are keyed by the case they name.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kafka.errors import KafkaError

from ticketrouter.adapters.codec import InvalidEvent, decode_noting
from ticketrouter.adapters.kafka import create_producer
from ticketrouter.config import Settings
from ticketrouter.domain.commands import AbandonContact, EndContact, EventCommand

PROGRESS_EVERY_S = 2.0
TOPIC_WAIT_MS = 10_000


@dataclass
class PublishTally:
    published: int = 0
    refused: int = 0
    with_unknown_fields: int = 0


def run_publish(settings: Settings, source: str, bootstrap: str) -> int:
    """0 when every line went out; 1 when some were refused (the rest went out);
    2 when nothing could be read or sent."""
    if not bootstrap:
        print(
            "ticketrouter events publish: needs the broker's address (--bootstrap or "
            "TICKETROUTER_KAFKA_BOOTSTRAP); `make run` prints the embedded one on its "
            "`kafka` line",
            file=sys.stderr,
        )
        return 2
    try:
        with _lines(source) as lines:
            tally = _publish(settings, bootstrap, source, lines)
    except OSError as err:
        print(f"ticketrouter events publish: {source}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KafkaError as err:
        print(
            f"ticketrouter events publish: {settings.contacts_topic} on {bootstrap}: "
            f"{type(err).__name__}: {err}",
            file=sys.stderr,
        )
        return 2
    summary = f"published {tally.published:,} events to {settings.contacts_topic}"
    if tally.refused:
        summary += f"; refused {tally.refused:,} (named above)"
    if tally.with_unknown_fields:
        summary += f"; {tally.with_unknown_fields:,} carried fields the contract ignores"
    print(summary)
    return 1 if tally.refused else 0


@contextmanager
def _lines(source: str) -> Iterator[TextIO]:
    if source == "-":
        yield sys.stdin
        return
    with Path(source).open(encoding="utf-8") as lines:
        yield lines


def _publish(settings: Settings, bootstrap: str, source: str, lines: Iterable[str]) -> PublishTally:
    producer = create_producer(
        bootstrap, client_id="ticketrouter-events-publish", max_block_ms=TOPIC_WAIT_MS
    )
    tally = PublishTally()
    keys = PartitionKeys()
    deliveries: list[Any] = []
    last_progress = time.monotonic()
    try:
        producer.partitions_for(settings.contacts_topic)  # an absent topic fails here
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            payload = line.strip().encode()
            try:
                decoded = decode_noting(
                    payload, None, settings.default_region, settings.max_event_bytes
                )
            except InvalidEvent as err:
                tally.refused += 1
                print(f"{source}:{number}: {err.reason}: {err.detail}", file=sys.stderr)
                continue
            if decoded.unknown_fields:
                tally.with_unknown_fields += 1
                fields = ", ".join(decoded.unknown_fields[:5])
                print(f"{source}:{number}: ignored unknown fields: {fields}", file=sys.stderr)
            key = keys.key_of(decoded.command)
            deliveries.append(producer.send(settings.contacts_topic, key=key, value=payload))
            if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                print(f"sent {len(deliveries):,} events ...", file=sys.stderr)
        producer.flush(timeout=30)
        for delivery in deliveries:
            delivery.get(timeout=0)  # raises if the broker did not take one
        tally.published = len(deliveries)
    finally:
        producer.close(5)
    return tally


class PartitionKeys:
    """One customer, one partition: the first identity as the router normalises it.
    Keys of the contacts seen are kept so the events that end them follow them."""

    def __init__(self) -> None:
        self._by_contact: dict[str, bytes] = {}

    def key_of(self, command: EventCommand) -> bytes:
        identities = getattr(command, "identities", ())
        if identities:
            first = identities[0]
            key = f"{first.kind.value}:{first.value}".encode()
            self._by_contact[command.event_id] = key
            return key
        if isinstance(command, AbandonContact | EndContact):
            contact = command.contact_id
            return self._by_contact.get(contact) or f"contact:{contact}".encode()
        return f"case:{getattr(command, 'case_id', '')}".encode()
