"""A lock held longer than the lock timeout ends in the worker's own back-off, not
in a driver wait that outlasts the poll interval: the worker retries the batch and
commits it once the lock is released, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.builders import RULES_FILE
from tests.integration.worker_doubles import RecordingProducer, ScriptedConsumer, valid_record
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.kafka import OutboxRelay
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings
from ticketrouter.entrypoints.worker import ContactWorker

RETRY_NOTICE = "transient failure, retrying the batch without committing"


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    settings = Settings(database_url=database_url, rules_file=RULES_FILE, db_lock_timeout_ms=200)
    application = bootstrap(settings)
    yield application
    application.close()


def wait_for(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.0f} s waiting for {what}")
        time.sleep(0.02)


def test_the_worker_backs_off_while_a_lock_is_held_then_commits(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    consumer = ScriptedConsumer([valid_record(0)])
    producer = RecordingProducer()
    relay = OutboxRelay(app.database.writer, producer, "routing-decisions")  # type: ignore[arg-type]
    app.publish_outbox = relay.send
    worker = ContactWorker(app, consumer, producer, relay)  # type: ignore[arg-type]
    holder = connect(app.database.url)
    try:
        with holder.writer.connect() as held:
            # Every batch records its event ids: a write lock there stops the batch
            # (SQLite's writer connection takes its one write lock at BEGIN).
            held.exec_driver_sql(
                "DELETE FROM processed_events WHERE 1 = 0"
                if app.database.is_sqlite
                else "LOCK TABLE processed_events IN EXCLUSIVE MODE"
            )
            polling = threading.Thread(target=worker.poll_once)
            polling.start()
            wait_for(lambda: caplog.text.count(RETRY_NOTICE) >= 2, "two retries")
            assert consumer.commits == [], "nothing is committed while the lock is held"
            held.rollback()
        polling.join(timeout=60)
        assert not polling.is_alive(), "the worker never got through"
    finally:
        holder.dispose()
    assert worker.processed == 1
    assert consumer.commits == [{consumer.assigned.copy().pop(): 1}]
