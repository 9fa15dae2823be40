"""The database refuses writes for a while (another connection holds an exclusive lock).

The worker's write waits on the lock inside the driver for at most the lock timeout
(a third of the group's 4 s max.poll.interval here), then backs off and retries while
keeping its partitions; the lock outlasts the poll interval, so any batch whose offset
commit comes too late is redelivered and skipped by event id.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import e2e_settings
from tests.e2e.faults.harness import (
    CommittedOffsets,
    Publisher,
    check_books,
    check_decisions,
    contacts,
    fleet,
    processed_count,
    seed_agents,
    wait_committed,
    wait_processed,
)
from tests.e2e.progress import TEST_CEILING_S
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.kafka import ensure_topics

pytestmark = pytest.mark.e2e

BEFORE, DURING = 600, 600
CUSTOMERS = 150
LOCK_SECONDS = 5.5


@pytest.mark.timeout(TEST_CEILING_S)
def test_the_worker_waits_out_a_locked_database_and_commits_nothing_meanwhile(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    path = tmp_path / "router.db"
    settings = e2e_settings(broker, f"sqlite:///{path}").with_overrides(batch_size=100)
    ensure_topics(
        broker.bootstrap, [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic], 2
    )
    database = connect(settings.database_url)
    database.create_schema()
    seed_agents(database, 6)
    traffic = contacts("locked", BEFORE + DURING, CUSTOMERS)
    publisher = Publisher(broker.bootstrap, settings.contacts_topic)
    offsets = CommittedOffsets(broker.bootstrap, settings.group_id, settings.contacts_topic, 2)
    try:
        with fleet(settings, tmp_path) as workers:
            worker = workers.start("worker")
            publisher.publish(traffic[:BEFORE])
            wait_processed(database, BEFORE, workers)
            wait_committed(offsets, BEFORE)

            lock = sqlite3.connect(path, isolation_level=None, timeout=30)
            lock.execute("BEGIN EXCLUSIVE")
            try:
                publisher.publish(traffic[BEFORE:])  # acknowledged by the broker, waiting
                time.sleep(0.5)
                held = offsets.read()
                time.sleep(LOCK_SECONDS)
                assert offsets.read() == held, "offsets committed while the database was locked"
                assert processed_count(database) == BEFORE
                assert worker.alive()
            finally:
                lock.execute("ROLLBACK")
                lock.close()

            wait_processed(database, BEFORE + DURING, workers)
            wait_committed(offsets, BEFORE + DURING)
            assert worker.alive()
    finally:
        offsets.close()
        publisher.close()
    check_books(database, publisher.acknowledged, CUSTOMERS)
    check_decisions(database, settings, publisher.acknowledged)
    database.dispose()
