"""The broker goes away and comes back on the same port while events flow.

The outage is cut at the broker's advertised address (see front.py): every client
connection drops and new ones are refused, while the log and the committed offsets
survive as they would on a real broker's disk.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kafka.errors import KafkaError

from tests.builders import RULES_FILE, contact
from tests.e2e.conftest import e2e_settings, wait_until
from tests.e2e.faults.conftest import FrontedBroker
from tests.e2e.faults.harness import (
    Background,
    Publisher,
    check_books,
    check_decisions,
    contacts,
    count_rows,
    fleet,
    read_topic,
    seed_agents,
    wait_processed,
)
from tests.e2e.progress import TEST_CEILING_S
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.kafka import OutboxRelay, create_producer, ensure_topics
from ticketrouter.adapters.orm import OutboxRow
from ticketrouter.bootstrap import bootstrap
from ticketrouter.service_layer.intake import handle_events

pytestmark = pytest.mark.e2e

EVENTS = 2000
CUSTOMERS = 300
OUTAGE_SECONDS = 4.0


@pytest.mark.timeout(TEST_CEILING_S)
def test_the_worker_rides_out_a_broker_restart(
    fronted_broker: FrontedBroker, tmp_path: Path
) -> None:
    settings = e2e_settings(fronted_broker.broker, f"sqlite:///{tmp_path}/router.db")
    settings = settings.with_overrides(topic_partitions=4, batch_size=200)
    ensure_topics(
        settings.kafka_bootstrap,
        [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic],
        4,
    )
    database = connect(settings.database_url)
    database.create_schema()
    seed_agents(database, 8)
    traffic = contacts("restart", EVENTS, CUSTOMERS)
    publisher = Publisher(settings.kafka_bootstrap, settings.contacts_topic)
    with fleet(settings, tmp_path) as workers:
        worker = workers.start("worker")
        wait_until(lambda: worker.assigned(4), 60, "the worker in its group")
        # Paced so that events are still arriving, and being routed, through the outage.
        flow = Background(lambda: publisher.publish(traffic, rate=300))
        wait_processed(database, EVENTS // 4, workers)

        dropped = fronted_broker.front.cut()
        time.sleep(OUTAGE_SECONDS)
        fronted_broker.front.restore()

        flow.join(120)
        wait_processed(database, EVENTS, workers)
        assert worker.alive(), "the worker must reconnect by itself, not exit"
    publisher.close()
    assert dropped >= 2, "clients were connected when the broker went away"
    assert sorted(publisher.acknowledged) == sorted(c.event_id for c in traffic)
    check_books(database, publisher.acknowledged, CUSTOMERS)
    check_decisions(database, settings, publisher.acknowledged)
    database.dispose()


@pytest.mark.timeout(60)
def test_a_decision_the_broker_never_acknowledged_stays_in_the_outbox(
    fronted_broker: FrontedBroker, tmp_path: Path
) -> None:
    settings = e2e_settings(fronted_broker.broker, f"sqlite:///{tmp_path}/router.db")
    settings = settings.with_overrides(rules_file=RULES_FILE)
    ensure_topics(settings.kafka_bootstrap, [settings.decisions_topic], 1)
    app = bootstrap(settings)
    # Short timeouts so that a delivery fails within the test rather than in two minutes.
    producer = create_producer(
        settings.kafka_bootstrap, request_timeout_ms=1000, delivery_timeout_ms=2000, linger_ms=0
    )
    relay = OutboxRelay(app.database.writer, producer, settings.decisions_topic)
    app.publish_outbox = relay.send  # decisions go out at commit, as in the service

    def route(event_id: str) -> None:
        command = contact(("email", f"{event_id}@example.com"), event_id=event_id)
        with app.uow() as uow:
            handle_events([command], uow, app.clock.now(), app.routing)
            uow.commit()

    try:
        route("before-the-outage")
        assert relay.drain() == 1
        fronted_broker.front.cut()
        route("during-the-outage")
        with pytest.raises(KafkaError):
            relay.drain()
        assert count_rows(app.database, OutboxRow) == 1, "an unacknowledged decision was dropped"
        fronted_broker.front.restore()
        wait_until(lambda: _drained(relay), 30, "the outbox drained after the broker returned")
        assert count_rows(app.database, OutboxRow) == 0
    finally:
        producer.close(timeout=5)
        app.close()

    records = read_topic(
        settings.kafka_bootstrap, settings.decisions_topic, lambda r: len(r) >= 2, 30
    )
    published = {json.loads(r.value)["event_id"] for r in records}
    assert published == {"before-the-outage", "during-the-outage"}


def _drained(relay: OutboxRelay) -> bool:
    try:
        relay.drain()
    except KafkaError:
        return False
    return True
