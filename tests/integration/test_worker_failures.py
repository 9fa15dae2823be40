"""The worker's three failure paths, with a scripted consumer in front of a real
SQLite database: invalid → DLQ and commit; transient → retry, no commit; an event
that fails on its own → DLQ as processing_error; a bug that fails them all → stop."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from tests.integration.worker_doubles import (
    TP,
    Record,
    RecordingProducer,
    ScriptedConsumer,
    valid_record,
)
from ticketrouter.adapters.kafka import OutboxRelay
from ticketrouter.adapters.orm import OutboxRow
from ticketrouter.bootstrap import App
from ticketrouter.entrypoints import worker as worker_module
from ticketrouter.entrypoints.worker import ContactWorker


def _worker(app: App, consumer: ScriptedConsumer, producer: RecordingProducer) -> ContactWorker:
    relay = OutboxRelay(app.database.writer, producer, "routing-decisions")  # type: ignore[arg-type]
    app.publish_outbox = relay.send
    return ContactWorker(app, consumer, producer, relay)  # type: ignore[arg-type]


def test_invalid_events_go_to_the_dlq_and_their_offsets_are_committed(app: App) -> None:
    consumer = ScriptedConsumer([valid_record(0), Record(1, b"{oops"), valid_record(2)])
    producer = RecordingProducer()
    worker = _worker(app, consumer, producer)
    assert worker.poll_once() == 3
    assert consumer.commits == [{TP: 3}]
    [dlq] = [s for s in producer.sent if s[0] == "contact-events.dlq"]
    assert dlq[1] == b"{oops"
    assert dict(dlq[2])["dlq-reason"] == b"bad_json"
    assert dict(dlq[2])["dlq-source"] == b"contact-events/0/1"
    decisions = [s for s in producer.sent if s[0] == "routing-decisions"]
    assert len(decisions) == 2


def test_a_transient_database_failure_retries_the_batch_and_commits_only_after(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_uow = app.uow
    failures = iter([True, True])

    def flaky_uow():  # type: ignore[no-untyped-def]
        if next(failures, False):
            raise OperationalError("BEGIN", {}, Exception("database is locked"))
        return real_uow()

    monkeypatch.setattr(app, "uow", flaky_uow)
    consumer = ScriptedConsumer([valid_record(0), valid_record(1)])
    worker = _worker(app, consumer, RecordingProducer())
    assert worker.poll_once() == 2
    assert consumer.pauses == 2  # waited twice with partitions paused, keeping membership
    assert consumer.commits == [{TP: 2}]
    with app.read_uow() as uow:
        assert uow.repo.processed_among(["e0", "e1"]) == {"e0", "e1"}


def test_stopping_while_the_database_is_down_commits_nothing(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop = threading.Event()

    def down():  # type: ignore[no-untyped-def]
        stop.set()  # the operator gives up while the database is still down
        raise OperationalError("BEGIN", {}, Exception("connection refused"))

    monkeypatch.setattr(app, "uow", down)
    consumer = ScriptedConsumer([valid_record(0)])
    worker = _worker(app, consumer, RecordingProducer())
    worker.stop = stop
    assert worker.poll_once() == 0
    assert consumer.commits == []


def test_a_bug_that_fails_every_event_stops_the_worker_without_committing(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken():  # type: ignore[no-untyped-def]
        raise KeyError("a bug")

    monkeypatch.setattr(app, "uow", broken)
    consumer = ScriptedConsumer([valid_record(0), valid_record(1)])
    producer = RecordingProducer()
    with pytest.raises(KeyError):
        _worker(app, consumer, producer).poll_once()
    assert consumer.commits == []
    assert producer.sent == [], "nothing is dead-lettered when the code, not an event, fails"


def _poisoned_by(app: App, monkeypatch: pytest.MonkeyPatch, event_id: str) -> None:
    """A bug that only this event's data triggers, deep in the handlers."""
    real = worker_module.handle_events

    def handle(commands, uow, now, settings):  # type: ignore[no-untyped-def]
        if any(c.event_id == event_id for c in commands):
            raise ValueError("Fail to serialize NaN for Value.number_value")
        return real(commands, uow, now, settings)

    monkeypatch.setattr(worker_module, "handle_events", handle)


def test_an_event_that_fails_on_its_own_is_dead_lettered_and_the_rest_lands(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    _poisoned_by(app, monkeypatch, "e1")
    consumer = ScriptedConsumer([valid_record(0), valid_record(1), valid_record(2)])
    producer = RecordingProducer()
    worker = _worker(app, consumer, producer)
    assert worker.poll_once() == 3
    assert consumer.commits == [{TP: 3}]
    [dlq] = [s for s in producer.sent if s[0] == "contact-events.dlq"]
    headers = dict(dlq[2])
    assert headers["dlq-reason"] == b"processing_error"
    assert headers["dlq-error"].startswith(b"ValueError: Fail to serialize NaN")
    assert headers["dlq-source"] == b"contact-events/0/1"
    with app.read_uow() as uow:
        assert uow.repo.processed_among(["e0", "e1", "e2"]) == {"e0", "e2"}
    sample = app.registry.get_sample_value(
        "ticketrouter_dlq_messages_total", {"reason": "processing_error"}
    )
    assert sample == 1
    assert (worker.processed, worker.dead_lettered) == (2, 1)


def test_a_batch_in_hand_too_long_makes_the_worker_stalled_and_counts_as_lag(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop = threading.Event()
    seen: list[tuple[bool, float | None]] = []
    consumer = ScriptedConsumer([valid_record(0), valid_record(1)])
    consumer.end_offset = 2
    worker = _worker(app, consumer, RecordingProducer())
    worker.stop = stop
    app.settings = app.settings.with_overrides(stall_seconds=0.0)

    def down():  # type: ignore[no-untyped-def]
        lag = app.registry.get_sample_value("ticketrouter_consumer_lag", {"partition": "0"})
        seen.append((worker.stalled, lag))
        if len(seen) == 3:
            stop.set()
        raise OperationalError("BEGIN", {}, Exception("connection refused"))

    monkeypatch.setattr(app, "uow", down)
    assert worker.poll_once() == 0
    assert consumer.commits == []
    assert all(stalled for stalled, _ in seen)
    # the first attempt comes before any backoff; from then on the waiting events show
    assert [lag for _, lag in seen[1:]] == [2, 2]
    assert worker.batch_age() > 0


def test_between_batches_the_worker_is_not_stalled(app: App) -> None:
    app.settings = app.settings.with_overrides(stall_seconds=0.0)
    consumer = ScriptedConsumer([valid_record(0)])
    worker = _worker(app, consumer, RecordingProducer())
    assert worker.poll_once() == 1
    assert worker.batch_age() == 0.0 and not worker.stalled


def test_consumer_lag_is_the_high_watermark_minus_the_next_offset(app: App) -> None:
    consumer = ScriptedConsumer([valid_record(0), valid_record(1)])
    consumer.end_offset = 10  # eight more events wait on the partition
    _worker(app, consumer, RecordingProducer()).poll_once()
    assert app.registry.get_sample_value("ticketrouter_consumer_lag", {"partition": "0"}) == 8


def test_lag_of_a_partition_lost_in_a_rebalance_is_no_longer_reported(app: App) -> None:
    consumer = ScriptedConsumer([valid_record(0)])
    consumer.end_offset = 5
    worker = _worker(app, consumer, RecordingProducer())
    worker.poll_once()
    assert app.registry.get_sample_value("ticketrouter_consumer_lag", {"partition": "0"}) == 4
    consumer.assigned = set()  # the partition moved to another worker
    worker.poll_once()
    assert app.registry.get_sample_value("ticketrouter_consumer_lag", {"partition": "0"}) is None


def test_a_broker_failure_while_dead_lettering_is_retried_before_committing(app: App) -> None:
    consumer = ScriptedConsumer([Record(0, b"{oops"), valid_record(1)])
    producer = RecordingProducer(failing_flushes=2)
    assert _worker(app, consumer, producer).poll_once() == 2
    assert consumer.pauses == 2 and consumer.commits == [{TP: 2}]
    dead = [s for s in producer.sent if s[0] == "contact-events.dlq"]
    assert len(dead) == 3  # sent again after each failed flush: at least once, never lost


def test_decisions_wait_in_the_outbox_while_the_broker_is_away(app: App) -> None:
    consumer = ScriptedConsumer([valid_record(0), valid_record(1)])
    producer = RecordingProducer(failing_flushes=1)
    worker = _worker(app, consumer, producer)
    assert worker.poll_once() == 2
    assert consumer.commits == [{TP: 2}]  # the decisions are durable in the outbox already
    published = [s for s in producer.sent if s[0] == "routing-decisions"]
    assert len(published) == 2  # sent at commit, without waiting for the broker
    assert _outbox_rows(app) == 2
    worker.poll_once()  # an idle poll waits for them: the broker is away, they stay
    assert _outbox_rows(app) == 2
    worker.poll_once()  # the broker is back: the outbox is published again, in order
    published = [s for s in producer.sent if s[0] == "routing-decisions"]
    assert len(published) == 4
    assert _outbox_rows(app) == 0
    worker.poll_once()
    assert len([s for s in producer.sent if s[0] == "routing-decisions"]) == 4  # nothing left


def test_a_batch_never_waits_for_the_broker_to_acknowledge_its_decisions(app: App) -> None:
    consumer = ScriptedConsumer([valid_record(0)], [valid_record(1)])
    producer = RecordingProducer()
    worker = _worker(app, consumer, producer)
    assert worker.poll_once() == 1 and worker.poll_once() == 1
    # No flush was needed to commit both batches: publishing overlaps routing.
    assert consumer.commits == [{TP: 1}, {TP: 2}]
    assert _outbox_rows(app) == 2
    worker.poll_once()  # idle: now it waits, and the acknowledged rows go
    assert _outbox_rows(app) == 0


def _outbox_rows(app: App) -> int:
    with app.database.reader.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(OutboxRow)).scalar_one())
