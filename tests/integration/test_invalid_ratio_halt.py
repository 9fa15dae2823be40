"""The invalid-ratio guard in the worker's loop, with a scripted consumer in front of a
real SQLite database: below the limit invalid events are dead-lettered and committed;
over it the worker halts before dead-lettering or committing the offending batch."""

from __future__ import annotations

import pytest

from tests.integration.worker_doubles import (
    TP,
    Record,
    RecordingProducer,
    ScriptedConsumer,
    valid_record,
)
from ticketrouter.adapters.kafka import OutboxRelay
from ticketrouter.bootstrap import App
from ticketrouter.entrypoints.worker import ContactWorker, InvalidRatioExceeded, InvalidRatioWindow


def _worker(app: App, consumer: ScriptedConsumer, producer: RecordingProducer) -> ContactWorker:
    relay = OutboxRelay(app.database.writer, producer, "routing-decisions")
    app.publish_outbox = relay.send
    window = InvalidRatioWindow(0.5, size=10, min_sample=4)
    return ContactWorker(app, consumer, producer, relay, invalid_window=window)


def _dead(producer: RecordingProducer) -> list[bytes]:
    return [value for topic, value, _ in producer.sent if topic == "contact-events.dlq"]


def test_a_few_invalid_events_are_dead_lettered_and_committed(app: App) -> None:
    consumer = ScriptedConsumer(
        [valid_record(0), Record(1, b"{bad"), valid_record(2), valid_record(3)]
    )
    producer = RecordingProducer()
    assert _worker(app, consumer, producer).poll_once() == 4
    assert consumer.commits == [{TP: 4}]
    assert _dead(producer) == [b"{bad"]


def test_over_the_limit_the_worker_halts_without_dead_lettering_or_committing(app: App) -> None:
    healthy = [valid_record(0), valid_record(1), Record(2, b"{bad")]
    flood = [Record(offset, b"{garbage") for offset in range(3, 9)]
    consumer = ScriptedConsumer(healthy, flood)
    producer = RecordingProducer()
    worker = _worker(app, consumer, producer)
    assert worker.poll_once() == 3  # one bad event among three: below the minimum sample
    with pytest.raises(InvalidRatioExceeded, match=r"contact-events/0@3-8"):
        worker.poll_once()
    assert consumer.commits == [{TP: 3}], "the offending batch must not be committed"
    assert _dead(producer) == [b"{bad"], "nor dead-lettered"
    assert worker.dead_lettered == 1
