"""A database whose schema is not this version's stops the worker at once with a
clear message, on SQLite and PostgreSQL alike: not retried forever as if it were
transient, and no event dead-lettered for it (none is to blame)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.builders import RULES_FILE
from tests.integration.worker_doubles import RecordingProducer, ScriptedConsumer, valid_record
from ticketrouter.adapters.database import SchemaMismatch
from ticketrouter.adapters.kafka import OutboxRelay
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings
from ticketrouter.entrypoints.worker import ContactWorker


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    application = bootstrap(Settings(database_url=database_url, rules_file=RULES_FILE))
    yield application
    application.close()


@pytest.mark.parametrize("events", [1, 3])
def test_a_missing_column_stops_the_worker_and_commits_nothing(
    app: App, events: int, caplog: pytest.LogCaptureFixture
) -> None:
    with app.database.writer.begin() as connection:
        # As a database made by another version might lack it (SQLite wants the
        # column's index gone first).
        connection.exec_driver_sql("DROP INDEX IF EXISTS ix_cases_customer_topic")
        connection.exec_driver_sql("ALTER TABLE cases DROP COLUMN topic")
    consumer = ScriptedConsumer([valid_record(n) for n in range(events)])
    producer = RecordingProducer()
    relay = OutboxRelay(app.database.writer, producer, "routing-decisions")  # type: ignore[arg-type]
    app.publish_outbox = relay.send
    worker = ContactWorker(app, consumer, producer, relay)  # type: ignore[arg-type]
    with pytest.raises(SchemaMismatch, match="topic"):
        worker.poll_once()
    assert consumer.commits == []
    assert producer.sent == [], "nothing dead-lettered: the schema, not an event, is wrong"
    assert "the database refuses this version's statements" in caplog.text
