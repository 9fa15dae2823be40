"""The Kafka worker: poll a batch, route it in one transaction, then commit offsets.

Three failure paths, each explicit:
- an invalid event goes to the DLQ with its reason and its offset is committed;
- a transient failure (database down, concurrent update) retries the same batch
  with backoff and commits nothing meanwhile, polling with partitions paused so
  the consumer keeps its group membership;
- anything else is a bug: the worker stops without committing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError, KafkaError

from ticketrouter.adapters.codec import InvalidEvent, decode
from ticketrouter.adapters.database import TRANSIENT_ERRORS
from ticketrouter.adapters.kafka import OutboxRelay
from ticketrouter.bootstrap import App
from ticketrouter.domain.commands import EventCommand
from ticketrouter.domain.errors import DomainError, NotFound
from ticketrouter.service_layer.intake import handle_events

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Rejected:
    record: Any
    reason: str
    detail: str


class ContactWorker:
    def __init__(
        self,
        app: App,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        relay: OutboxRelay,
        stop: threading.Event | None = None,
    ) -> None:
        self.app = app
        self.consumer = consumer
        self.producer = producer
        self.relay = relay
        self.stop = stop or threading.Event()
        self.processed = 0
        self.dead_lettered = 0
        self._next_offsets: dict[TopicPartition, int] = {}

    def run(self) -> None:
        log.info("worker started", extra={"topic": self.app.settings.contacts_topic})
        try:
            while not self.stop.is_set():
                self.poll_once()
        finally:
            log.info(
                "worker stopped",
                extra={"processed": self.processed, "dead_lettered": self.dead_lettered},
            )

    def poll_once(self, timeout_ms: int = 200) -> int:
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.app.settings.batch_size)
        if not polled:
            self._publish_decisions()
            self._report_lag()
            return 0
        records = [record for batch in polled.values() for record in batch]
        commands, rejected = self._decode(records)
        if not self._apply(commands, rejected) or not self._dead_letter(rejected):
            return 0  # stopping: nothing committed, the batch will be redelivered
        self._publish_decisions()
        offsets = {tp: batch[-1].offset + 1 for tp, batch in polled.items()}
        self._commit(offsets)
        self._next_offsets.update(offsets)
        self._report_lag()
        self.processed += len(records) - len(rejected)
        return len(records)

    def _decode(
        self, records: Sequence[Any]
    ) -> tuple[list[tuple[Any, EventCommand]], list[Rejected]]:
        region = self.app.settings.default_region
        commands: list[tuple[Any, EventCommand]] = []
        rejected: list[Rejected] = []
        for record in records:
            try:
                command = decode(record.value or b"", _content_type(record.headers), region)
            except InvalidEvent as err:
                rejected.append(Rejected(record, err.reason, err.detail))
            else:
                commands.append((record, command))
        return commands, rejected

    def _apply(self, commands: list[tuple[Any, EventCommand]], rejected: list[Rejected]) -> bool:
        """Route the batch in one transaction; returns False only when asked to stop."""
        if not commands:
            return True

        def route() -> None:
            try:
                self._route([c for _, c in commands])
            except DomainError:
                # A command the decoder accepted but the domain refused: isolate it.
                self._route_one_by_one(commands, rejected)

        return self._until_done(
            route, TRANSIENT_ERRORS, "transient failure, retrying the batch without committing"
        )

    def _until_done(
        self, action: Callable[[], None], transient: tuple[type[Exception], ...], problem: str
    ) -> bool:
        """Run `action` until it succeeds, backing off on `transient` failures while
        keeping group membership; returns False only when asked to stop first."""
        delay = 0.05
        while not self.stop.is_set():
            try:
                action()
                return True
            except transient as err:
                log.warning(
                    problem,
                    extra={
                        "error": f"{type(err).__name__}: {str(err)[:200]}",
                        "retry_in_s": round(delay, 3),
                    },
                )
                self._backoff(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        return False

    def _route(self, commands: list[EventCommand]) -> None:
        with self.app.uow() as uow:
            handle_events(commands, uow, self.app.clock.now(), self.app.routing)
            events = uow.commit()
        self.app.after_commit(events)

    def _route_one_by_one(
        self, commands: list[tuple[Any, EventCommand]], rejected: list[Rejected]
    ) -> None:
        for record, command in commands:
            try:
                self._route([command])
            except NotFound as err:
                rejected.append(Rejected(record, "unknown_reference", str(err)))
            except DomainError as err:
                rejected.append(Rejected(record, "invalid_value", str(err)))

    def _backoff(self, seconds: float) -> None:
        """Wait while keeping group membership: poll with every partition paused."""
        assigned = list(self.consumer.assignment())
        self.consumer.pause(*assigned)
        try:
            unexpected = self.consumer.poll(timeout_ms=int(seconds * 1000))
            # Partitions assigned during the pause arrive unpaused: rewind them.
            for tp, batch in unexpected.items():
                self.consumer.seek(tp, batch[0].offset)
        finally:
            self.consumer.resume(*[tp for tp in assigned if tp in self.consumer.assignment()])

    def _publish_decisions(self) -> None:
        """Decisions are durable in the outbox once committed; if the broker is away
        they are published later (here or by the housekeeping thread)."""
        try:
            self.relay.drain()
        except KafkaError as err:
            log.warning(
                "decisions stay in the outbox until the broker answers",
                extra={"error": str(err)[:200]},
            )

    def _dead_letter(self, rejected: Sequence[Rejected]) -> bool:
        """Copy rejected events to the DLQ; the copy must be durable before the offsets
        that drop the originals are committed, so a broker failure is retried.
        Returns False only when asked to stop first."""
        if not rejected:
            return True
        if not self._until_done(
            lambda: self._send_to_dlq(rejected),
            (KafkaError,),
            "dead-lettering failed, retrying before committing",
        ):
            return False
        for item in rejected:
            self.app.metrics.dead_lettered(item.reason)
        self.dead_lettered += len(rejected)
        return True

    def _send_to_dlq(self, rejected: Sequence[Rejected]) -> None:
        topic = self.app.settings.dlq_topic
        sent = []
        for item in rejected:
            record = item.record
            source = f"{record.topic}/{record.partition}/{record.offset}"
            headers = [
                *(record.headers or []),
                ("dlq-reason", item.reason.encode()),
                ("dlq-error", item.detail[:1000].encode()),
                ("dlq-source", source.encode()),
            ]
            sent.append(
                self.producer.send(
                    topic, key=record.key, value=record.value or b"", headers=headers
                )
            )
            log.warning(
                "event dead-lettered",
                extra={"reason": item.reason, "error": item.detail[:200], "source": source},
            )
        self.producer.flush(timeout=30)
        for future in sent:
            future.get(timeout=0)  # raises the delivery error, if any

    def _report_lag(self) -> None:
        """Lag = the partition's high watermark (as last fetched) minus our next offset."""
        lag: dict[int, int] = {}
        assigned = self.consumer.assignment()
        for tp, next_offset in self._next_offsets.items():
            if tp not in assigned:
                continue  # moved to another worker in a rebalance: theirs to report
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                lag[tp.partition] = max(0, highwater - next_offset)
        self.app.metrics.set_consumer_lag(lag)

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
            )
        except (CommitFailedError, KafkaError) as err:
            # Partitions moved to another worker; it will see these events again and
            # skip them by event_id, so nothing is lost and nothing is doubled.
            log.warning("offset commit failed after a rebalance", extra={"error": str(err)})


def _content_type(headers: Sequence[tuple[str, bytes]] | None) -> str | None:
    for key, value in headers or ():
        if key.lower() == "content-type":
            return value.decode(errors="replace")
    return None
