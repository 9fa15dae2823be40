"""A second worker joins the group and leaves again while events flow (PostgreSQL,
so both processes write concurrently and race for the same agents)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import e2e_settings, wait_until
from tests.e2e.faults.harness import (
    Background,
    Publisher,
    check_books,
    check_decisions,
    contacts,
    fleet,
    seed_agents,
    wait_processed,
)
from tests.e2e.progress import TEST_CEILING_S
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.kafka import ensure_topics

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

EVENTS = 2400
HALF = EVENTS // 2
CUSTOMERS = 250


@pytest.mark.timeout(TEST_CEILING_S)
def test_a_worker_joining_then_leaving_loses_and_doubles_nothing(
    broker: EmbeddedBroker, postgres_url: str, tmp_path: Path
) -> None:
    settings = e2e_settings(broker, postgres_url).with_overrides(topic_partitions=4, batch_size=100)
    ensure_topics(
        broker.bootstrap, [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic], 4
    )
    database = connect(postgres_url)
    database.create_schema()
    seed_agents(database, 6)
    traffic = contacts("rebalance", EVENTS, CUSTOMERS)
    publisher = Publisher(broker.bootstrap, settings.contacts_topic)
    try:
        with fleet(settings, tmp_path) as workers:
            first = workers.start("first")
            wait_until(lambda: first.assigned(4), 60, "the first worker in its group")
            flow = Background(lambda: publisher.publish(traffic[:HALF], rate=250))
            wait_processed(database, EVENTS // 5, workers)

            second = workers.start("second")
            wait_until(
                lambda: first.assigned(2) and second.assigned(2), 60, "the partitions shared"
            )
            flow.join(60)
            # The second half flows while both workers hold partitions, and on after one left.
            flow = Background(lambda: publisher.publish(traffic[HALF:], rate=250))
            wait_processed(database, HALF + 300, workers)
            assert second.stop() == 0
            wait_until(lambda: first.assigned(4), 60, "the first worker taking everything back")

            flow.join(60)
            wait_processed(database, EVENTS, workers)
            assert first.alive()
    finally:
        publisher.close()
    assert second.processed() > 0, "the second worker took part"
    check_books(database, publisher.acknowledged, CUSTOMERS)
    check_decisions(database, settings, publisher.acknowledged)
    database.dispose()
