"""A NaN, a NUL and a 1.1 MiB event in the middle of 3,000 valid ones, with the
worker restarted in between: every valid event is routed exactly once, the three
wait in the DLQ with their reasons, and no worker ever goes down on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaProducer

from tests.e2e.conftest import e2e_settings, wait_until
from tests.e2e.faults.harness import (
    CommittedOffsets,
    Publisher,
    check_books,
    check_decisions,
    contacts,
    fleet,
    processed_count,
    read_topic,
    seed_agents,
    wait_processed,
)
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.kafka import ensure_topics

pytestmark = pytest.mark.e2e

EVENTS = 3000
CUSTOMERS = 300
PARTITIONS = 2


def _poison() -> list[tuple[str, bytes, str]]:
    """(the poisoned event's source key, payload, the DLQ reason it must get)."""
    envelope = (
        b'{"event_id": "%s", "type": "contact.received", "occurred_at": '
        b'"2026-11-22T10:00:00Z", "channel": "email", "topic": "general.q0", '
        b'"identities": [{"kind": "email", "value": "%s"}]%s}'
    )
    nan = envelope % (b"poison-nan", b"nan@example.com", b', "attributes": {"order_value": NaN}')
    nul = envelope % (b"poison-nul", b"nul\\u0000@example.com", b"")
    huge = envelope % (b"poison-huge", b"huge@example.com", b', "text": "%s"' % (b"x" * 1_153_434))
    return [
        ("nan", nan, "invalid_value"),
        ("nul", nul, "invalid_value"),
        ("huge", huge, "too_large"),
    ]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("database_kind", ["sqlite", "postgres"])
def test_poison_in_the_middle_of_the_stream_stops_nobody(
    broker: EmbeddedBroker, tmp_path: Path, database_kind: str, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/router.db"
        if database_kind == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    settings = e2e_settings(broker, url).with_overrides(topic_partitions=PARTITIONS, batch_size=250)
    topics = [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic]
    ensure_topics(broker.bootstrap, topics, PARTITIONS)
    database = connect(settings.database_url)
    database.create_schema()
    seed_agents(database, 8)
    traffic = contacts("mid", EVENTS, CUSTOMERS)
    publisher = Publisher(broker.bootstrap, settings.contacts_topic)
    # The huge event needs a producer that may send it: a stock broker takes ~1 MiB+.
    raw = KafkaProducer(bootstrap_servers=broker.bootstrap, max_request_size=4 * 1024 * 1024)
    offsets = CommittedOffsets(broker.bootstrap, settings.group_id, settings.contacts_topic, 2)
    poison = _poison()
    try:
        with fleet(settings, tmp_path) as workers:
            first = workers.start("first")
            publisher.publish(traffic[: EVENTS // 2])
            for key, payload, _ in poison:
                raw.send(settings.contacts_topic, key=key.encode(), value=payload).get(30)
            wait_processed(database, EVENTS // 4, workers)
            first.stop()
            assert first.process.returncode == 0, first.text()[-3000:]

            second = workers.start("second")
            publisher.publish(traffic[EVENTS // 2 :])
            wait_processed(database, EVENTS, workers)
            total = EVENTS + len(poison)
            wait_until(lambda: offsets.total() == total, 60, "every offset committed")
            assert second.alive(), second.text()[-3000:]
    finally:
        offsets.close()
        raw.close(5)
        publisher.close()
    for worker in (first, second):
        assert worker.own_failures() == [], worker.text()[-3000:]
    assert processed_count(database) == EVENTS
    check_books(database, publisher.acknowledged, CUSTOMERS)
    check_decisions(database, settings, publisher.acknowledged)
    dead = read_topic(broker.bootstrap, settings.dlq_topic, lambda got: len(got) >= 3, 60)
    reasons = {record.key.decode(): dict(record.headers) for record in dead}
    assert set(reasons) == {key for key, _, _ in poison}, "each poison once in the DLQ"
    for key, _, reason in poison:
        headers = reasons[key]
        assert headers["dlq-reason"].decode() == reason
        assert headers["dlq-error"], "the DLQ says what was wrong"
    assert b"attributes.order_value" in reasons["nan"]["dlq-error"]
    assert b"identities[0].value" in reasons["nul"]["dlq-error"]
    huge = next(r for r in dead if r.key == b"huge")
    assert dict(huge.headers)["dlq-truncated"] == b"true"
    assert int(dict(huge.headers)["dlq-original-bytes"]) > 1_100_000
    assert huge.value == poison[2][1][: len(huge.value)] and len(huge.value) > 0
    database.dispose()
