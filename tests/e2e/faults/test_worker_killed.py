"""A worker killed with SIGKILL in the middle of its work, then started again."""

from __future__ import annotations

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

EVENTS = 3000
CUSTOMERS = 400


@pytest.mark.timeout(TEST_CEILING_S)
def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = e2e_settings(broker, f"sqlite:///{tmp_path}/router.db").with_overrides(
        topic_partitions=4, batch_size=200
    )
    ensure_topics(
        broker.bootstrap, [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic], 4
    )
    database = connect(settings.database_url)
    database.create_schema()
    seed_agents(database, 8)
    traffic = contacts("killed", EVENTS, CUSTOMERS)
    publisher = Publisher(broker.bootstrap, settings.contacts_topic)
    publisher.publish(traffic)
    publisher.close()
    offsets = CommittedOffsets(broker.bootstrap, settings.group_id, settings.contacts_topic, 4)
    try:
        with fleet(settings, tmp_path) as workers:
            first = workers.start("first")
            # Decisions are being made: the kill lands while batches are in flight.
            wait_processed(database, EVENTS // 3, workers)
            first.kill()
            at_kill = processed_count(database)
            committed_at_kill = offsets.total()
            assert at_kill < EVENTS, "killed too late to test anything"
            # Offsets never run ahead of durable work: the database commits first.
            assert committed_at_kill <= at_kill

            second = workers.start("second")
            wait_processed(database, EVENTS, workers)
            wait_committed(offsets, EVENTS)
            assert second.alive()
    finally:
        offsets.close()
    assert "worker stopped" not in first.text(), "SIGKILL gives the worker no way out"
    # Everything not acknowledged was handed to the next worker (again, if it was done).
    assert second.processed() >= EVENTS - committed_at_kill
    check_books(database, publisher.acknowledged, CUSTOMERS)
    check_decisions(database, settings, publisher.acknowledged)
    database.dispose()
