"""A transient failure while the worker isolates a refused event must not dead-letter
that event twice: the retry starts the isolation afresh."""

from __future__ import annotations

import itertools
import json

import pytest
from sqlalchemy.exc import OperationalError

from tests.integration.worker_doubles import (
    TP,
    Record,
    RecordingProducer,
    ScriptedConsumer,
    valid_record,
)
from ticketrouter.adapters.kafka import OutboxRelay
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.bootstrap import App
from ticketrouter.entrypoints.worker import ContactWorker


def _message_for_a_missing_case(offset: int) -> Record:
    event = {
        "event_id": f"m{offset}",
        "type": "contact.message",
        "occurred_at": "2026-11-22T10:00:00Z",
        "channel": "chat",
        "case_id": "no-such-case",
        "text": "hello?",
    }
    return Record(offset, json.dumps(event).encode())


def test_a_refused_event_is_dead_lettered_once_when_its_batch_is_retried(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_uow = app.uow
    calls = itertools.count(1)

    def flaky_uow() -> SqlUnitOfWork:
        # 1: the whole batch, refused; 2: the missing case, refused alone;
        # 3: the next event alone, when the database goes away for a moment.
        if next(calls) == 3:
            raise OperationalError("BEGIN", {}, Exception("database is locked"))
        return real_uow()

    monkeypatch.setattr(app, "uow", flaky_uow)
    consumer = ScriptedConsumer([_message_for_a_missing_case(0), valid_record(1), valid_record(2)])
    producer = RecordingProducer()
    relay = OutboxRelay(app.database.writer, producer, "routing-decisions")
    app.publish_outbox = relay.send
    worker = ContactWorker(app, consumer, producer, relay)

    assert worker.poll_once() == 3
    assert consumer.commits == [{TP: 3}]
    dead = [headers for topic, _, headers in producer.sent if topic == "contact-events.dlq"]
    assert len(dead) == 1, "dead-lettered once"
    assert dict(dead[0])["dlq-reason"] == b"unknown_reference"
    assert (worker.processed, worker.dead_lettered) == (2, 1)
    assert (
        app.registry.get_sample_value(
            "ticketrouter_dlq_messages_total", {"reason": "unknown_reference"}
        )
        == 1
    )
    with app.read_uow() as uow:
        assert uow.repo.processed_among(["m0", "e1", "e2"]) == {"e1", "e2"}
