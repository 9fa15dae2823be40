"""The Kafka worker: poll a batch, route it in one transaction, then commit offsets.

Three failure paths, each explicit:
- an invalid event goes to the DLQ with its reason and its offset is committed;
- a transient failure (database down, concurrent update) retries the same batch
  with backoff and commits nothing meanwhile, polling with partitions paused so
  the consumer keeps its group membership;
- any other failure is isolated: the batch is replayed one event per transaction,
  and an event that fails on its own goes to the DLQ as `processing_error` (its
  traceback in the log) while the rest lands. A bug that one customer's data
  triggers never stops routing for everyone else.

A batch in hand for longer than TICKETROUTER_STALL_SECONDS (a database that stays
away, a broker that refuses the DLQ copy) makes the worker `stalled`; the runtime
turns health NOT_SERVING meanwhile, and consumer lag keeps counting the waiting events.

One guard sits above the DLQ: when invalid events exceed a share of recent traffic
(TICKETROUTER_MAX_INVALID_RATIO), the producer side is broken rather than one
message, so the worker halts without committing the batch instead of
dead-lettering the whole stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError, KafkaError, RetriableError
from sqlalchemy.exc import DBAPIError

from ticketrouter.adapters.codec import Decoded, InvalidEvent, decode_noting
from ticketrouter.adapters.database import SchemaMismatch, is_transient, schema_problem
from ticketrouter.adapters.dead_letters import DeadLetterQueue, dead_letter_copy
from ticketrouter.adapters.kafka import OutboxRelay
from ticketrouter.adapters.log_limits import LimitedLog
from ticketrouter.bootstrap import App
from ticketrouter.domain.commands import EventCommand
from ticketrouter.domain.errors import DomainError, NotFound
from ticketrouter.service_layer.intake import handle_events

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
BROKER_AWAY_SECONDS = 0.5
# The invalid-ratio guard looks at the last INVALID_WINDOW events and judges only
# once INVALID_MIN_SAMPLE were seen, so one bad event at start-up cannot halt it.
INVALID_WINDOW = 1_000
INVALID_MIN_SAMPLE = 100


class InvalidRatioExceeded(Exception):
    """Invalid events exceed the configured share of recent traffic: halt, commit nothing."""


class InvalidRatioWindow:
    """The share of invalid events among the last `size` events seen (pure).

    `limit` is the largest acceptable share; 1.0 never trips. The share is judged only
    once `min_sample` events are in the window.
    """

    def __init__(
        self, limit: float, size: int = INVALID_WINDOW, min_sample: int = INVALID_MIN_SAMPLE
    ) -> None:
        if not 0.0 <= limit <= 1.0:
            raise ValueError(f"limit must be within 0..1, got {limit}")
        if not 1 <= min_sample <= size:
            raise ValueError(f"need 1 <= min_sample <= size, got {min_sample} and {size}")
        self.limit = limit
        self.size = size
        self.min_sample = min_sample
        self._flags: deque[bool] = deque()
        self._invalid = 0

    def observe(self, invalid: bool) -> bool:
        """Counts one event; True when the window now exceeds the limit."""
        self._flags.append(invalid)
        self._invalid += invalid
        if len(self._flags) > self.size:
            self._invalid -= self._flags.popleft()
        return self.exceeded

    @property
    def seen(self) -> int:
        return len(self._flags)

    @property
    def invalid(self) -> int:
        return self._invalid

    @property
    def ratio(self) -> float:
        return self._invalid / len(self._flags) if self._flags else 0.0

    @property
    def exceeded(self) -> bool:
        return len(self._flags) >= self.min_sample and self.ratio > self.limit


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
        invalid_window: InvalidRatioWindow | None = None,
    ) -> None:
        self.app = app
        self.consumer = consumer
        self.producer = producer
        self.relay = relay
        self.stop = stop or threading.Event()
        self.invalid_window = invalid_window or InvalidRatioWindow(app.settings.max_invalid_ratio)
        self.processed = 0
        self.dead_lettered = 0
        self._next_offsets: dict[TopicPartition, int] = {}
        self._dlq = DeadLetterQueue(producer, app.settings.dlq_topic)
        self._unknown_fields_log = LimitedLog(log, interval=60.0)
        # monotonic time the batch in hand was polled; None between batches
        self._batch_since: float | None = None

    def batch_age(self, now: float | None = None) -> float:
        """Seconds the batch in hand has waited to be committed (0 between batches).
        Read from other threads (health, gauges): one attribute read, no lock needed."""
        since = self._batch_since
        if since is None:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - since)

    @property
    def stalled(self) -> bool:
        return self.batch_age() > self.app.settings.stall_seconds

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
        polled = self._poll(timeout_ms, self.app.settings.batch_size)
        if not polled:
            self._publish_decisions()
            self._report_lag()
            return 0
        self._batch_since = time.monotonic()
        for tp, batch in polled.items():
            # Until this batch commits, its events count as lag, even on a first batch.
            self._next_offsets.setdefault(tp, batch[0].offset)
        self._report_lag()  # the batch itself is waiting, however long it takes
        records = [record for batch in polled.values() for record in batch]
        commands, rejected = self._decode(records)
        if not self._apply(commands, rejected):
            return 0  # stopping: nothing committed, the batch will be redelivered
        self._check_invalid_ratio(polled, records, rejected)
        if not self._dead_letter(rejected):
            return 0
        self._settle_decisions()
        offsets = {tp: batch[-1].offset + 1 for tp, batch in polled.items()}
        self._commit(offsets)
        self._next_offsets.update(offsets)
        self._batch_since = None
        self._report_lag()
        self.processed += len(records) - len(rejected)
        return len(records)

    def _decode(
        self, records: Sequence[Any]
    ) -> tuple[list[tuple[Any, EventCommand]], list[Rejected]]:
        region = self.app.settings.default_region
        max_bytes = self.app.settings.max_event_bytes
        commands: list[tuple[Any, EventCommand]] = []
        rejected: list[Rejected] = []
        for record in records:
            try:
                decoded = decode_noting(
                    record.value or b"", _content_type(record.headers), region, max_bytes
                )
            except InvalidEvent as err:
                rejected.append(Rejected(record, err.reason, err.detail))
            else:
                commands.append((record, decoded.command))
                if decoded.unknown_fields:
                    self._note_unknown_fields(record, decoded)
        return commands, rejected

    def _note_unknown_fields(self, record: Any, decoded: Decoded) -> None:
        self.app.metrics.unknown_fields_ignored(decoded.event_type)
        # A line a minute per event type at most: a producer with a new field sends it
        # on every event, and one line says what it is.
        self._unknown_fields_log.log(
            logging.WARNING,
            decoded.event_type,
            "event accepted with fields the contract does not know; they are ignored",
            {
                "type": decoded.event_type,
                "fields": ",".join(decoded.unknown_fields[:10]),
                "source": f"{record.topic}/{record.partition}/{record.offset}",
            },
        )

    def _apply(self, commands: list[tuple[Any, EventCommand]], rejected: list[Rejected]) -> bool:
        """Route the batch in one transaction; returns False only when asked to stop."""
        if not commands:
            return True

        def route() -> None:
            refused: list[Rejected] = []
            try:
                self._route([c for _, c in commands])
            except SchemaMismatch:
                raise
            except DomainError:
                # A command the decoder accepted but the domain refused: isolate it.
                self._route_one_by_one(commands, refused)
            except Exception as err:
                if is_transient(err):
                    raise
                # A bug met in someone's data: find the event, keep routing the rest.
                log.warning(
                    "batch failed, replaying it one event at a time",
                    extra={"error": _describe(err), "events": len(commands)},
                )
                self._route_one_by_one(commands, refused)
            # Only once the batch is through: a retry isolates afresh, and an event
            # refused before the transient failure must not be dead-lettered twice.
            rejected.extend(refused)

        return self._until_done(
            route, is_transient, "transient failure, retrying the batch without committing"
        )

    def _check_invalid_ratio(
        self, polled: Mapping[Any, Sequence[Any]], records: Sequence[Any], rejected: list[Rejected]
    ) -> None:
        """Raises InvalidRatioExceeded, before anything is dead-lettered or committed,
        when the batch takes the share of invalid events over the limit."""
        bad = {id(item.record) for item in rejected}
        window = self.invalid_window
        tripped = False
        for record in records:
            tripped = window.observe(id(record) in bad) or tripped
        if not tripped:
            return
        reasons = Counter(item.reason for item in rejected)
        batch = ",".join(
            f"{tp.topic}/{tp.partition}@{part[0].offset}-{part[-1].offset}"
            for tp, part in polled.items()
        )
        log.error(
            "halting: invalid events exceed TICKETROUTER_MAX_INVALID_RATIO; "
            "this batch is neither dead-lettered nor committed",
            extra={
                "invalid": window.invalid,
                "window": window.seen,
                "ratio": round(window.ratio, 3),
                "limit": window.limit,
                "reasons": ",".join(f"{r}:{n}" for r, n in sorted(reasons.items())),
                "batch": batch,
            },
        )
        raise InvalidRatioExceeded(
            f"{window.invalid} of the last {window.seen} events were invalid "
            f"(ratio {window.ratio:.2f} > limit {window.limit}); uncommitted batch {batch}"
        )

    def _until_done(
        self, action: Callable[[], None], transient: Callable[[Exception], bool], problem: str
    ) -> bool:
        """Run `action` until it succeeds, backing off on `transient` failures while
        keeping group membership; returns False only when asked to stop first."""
        delay = 0.05
        while not self.stop.is_set():
            try:
                action()
                return True
            except Exception as err:
                if not transient(err):
                    raise
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
        try:
            with self.app.uow() as uow:
                handle_events(commands, uow, self.app.clock.now(), self.app.routing)
                events = uow.commit()
        except DBAPIError as err:
            problem = schema_problem(err)
            if problem is None:
                raise
            # Every event would fail alike and none is to blame: stop, commit nothing.
            log.error(
                "halting: the database refuses this version's statements (its schema does "
                "not match this version of ticketrouter: `ticketrouter db check` says "
                "where it is, `ticketrouter db upgrade` brings it to this version); "
                "nothing of this batch is committed",
                extra={"problem": problem},
            )
            raise SchemaMismatch(problem) from err
        self.app.after_commit(events)

    def _route_one_by_one(
        self, commands: list[tuple[Any, EventCommand]], rejected: list[Rejected]
    ) -> None:
        """One transaction per event. When every event of a batch of several fails
        for an unexpected reason, the fault is the code or the system, not one event:
        the worker stops rather than dead-letter a healthy stream."""
        failures: list[Exception] = []
        for record, command in commands:
            try:
                self._route([command])
            except SchemaMismatch:
                raise
            except NotFound as err:
                rejected.append(Rejected(record, "unknown_reference", str(err)))
            except DomainError as err:
                rejected.append(Rejected(record, "invalid_value", str(err)))
            except Exception as err:
                if is_transient(err):
                    raise  # the whole batch is retried; events routed so far are skipped
                log.exception(
                    "event fails on its own: dead-lettering it as processing_error",
                    extra={"event_id": command.event_id[:128], "source": _source(record)},
                )
                failures.append(err)
                rejected.append(Rejected(record, "processing_error", _describe(err)))
        if len(commands) > 1 and len(failures) == len(commands):
            raise failures[-1]

    def _poll(self, timeout_ms: int, max_records: int | None = None) -> dict[Any, Any]:
        """consumer.poll, with the broker going away treated as the transient it is.

        kafka-python can raise a retriable connection error out of poll() itself (seen
        when a coordinator lookup meets a broker outage); the next poll reconnects.
        """
        try:
            polled: dict[Any, Any] = self.consumer.poll(
                timeout_ms=timeout_ms, max_records=max_records
            )
        except RetriableError as err:
            log.warning(
                "broker unavailable; polling again",
                extra={"error": f"{type(err).__name__}: {str(err)[:200]}"},
            )
            self.stop.wait(max(timeout_ms / 1000, BROKER_AWAY_SECONDS))
            return {}
        return polled

    def _backoff(self, seconds: float) -> None:
        """Wait while keeping group membership: poll with every partition paused."""
        assigned = list(self.consumer.assignment())
        self.consumer.pause(*assigned)
        try:
            unexpected = self._poll(int(seconds * 1000))
            # Partitions assigned during the pause arrive unpaused: rewind them.
            for tp, batch in unexpected.items():
                self.consumer.seek(tp, batch[0].offset)
            # A stalled worker shows the events waiting for it; paused partitions are
            # not fetched, so their high watermarks are asked of the broker.
            self._report_lag(fresh=True)
        finally:
            self.consumer.resume(*[tp for tp in assigned if tp in self.consumer.assignment()])

    def _settle_decisions(self) -> None:
        """Forget the decisions the broker acknowledged (they were sent at commit);
        never waits for the broker, so publishing overlaps the next batch."""
        try:
            self.relay.settle()
        except Exception as err:
            if not is_transient(err):
                raise
            log.warning("delivered decisions stay in the outbox", extra={"error": str(err)})

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
            lambda err: isinstance(err, KafkaError),
            "dead-lettering failed, retrying before committing",
        ):
            return False
        for item in rejected:
            self.app.metrics.dead_lettered(item.reason)
        self.dead_lettered += len(rejected)
        return True

    def _send_to_dlq(self, rejected: Sequence[Rejected]) -> None:
        letters = []
        for item in rejected:
            letters.append(dead_letter_copy(item.record, item.reason, item.detail))
            log.warning(
                "event dead-lettered",
                extra={
                    "reason": item.reason,
                    "error": item.detail[:200],
                    "source": _source(item.record),
                },
            )
        self._dlq.send(letters)

    def _report_lag(self, fresh: bool = False) -> None:
        """Lag = the partition's high watermark minus our next offset; the watermark
        as last fetched, or (`fresh`) as the broker says now."""
        lag: dict[int, int] = {}
        assigned = self.consumer.assignment()
        owned = [tp for tp in self._next_offsets if tp in assigned]
        # A partition moved to another worker in a rebalance is theirs to report.
        ends: dict[TopicPartition, int | None] = {}
        if fresh and owned:
            try:
                ends.update(self.consumer.end_offsets(owned))
            except KafkaError as err:
                log.debug("end offsets unavailable", extra={"error": str(err)[:200]})
        for tp in owned:
            highwater = ends.get(tp) or self.consumer.highwater(tp)
            if highwater is not None:
                lag[tp.partition] = max(0, highwater - self._next_offsets[tp])
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


def _source(record: Any) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err)[:500]}"


def _content_type(headers: Sequence[tuple[str, bytes]] | None) -> str | None:
    for key, value in headers or ():
        if key.lower() == "content-type":
            return value.decode(errors="replace")
    return None
