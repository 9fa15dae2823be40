"""Poison messages: each goes to the DLQ with its reason, the events around it are
routed; a flood of them halts the worker instead of dead-lettering a broken deploy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.builders import event_json
from tests.e2e.conftest import Service, e2e_settings, read_topic, wait_until
from tests.e2e.faults.harness import (
    CommittedOffsets,
    Publisher,
    contacts,
    fleet,
    processed_count,
    wait_committed,
    wait_processed,
)
from tests.e2e.faults.harness import read_topic as read_all
from tests.e2e.progress import TEST_CEILING_S
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.codec import MAX_EVENT_BYTES
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.kafka import ensure_topics

pytestmark = pytest.mark.e2e


def _valid(n: int) -> dict[str, Any]:
    return event_json(f"valid-{n}", [("email", f"person{n}@example.com")])


def _poison() -> list[tuple[bytes, str]]:
    """(payload, the DLQ reason it must get)."""
    wrong_types = _valid(100) | {"identities": "person@example.com", "event_id": "wrong-types"}
    oversized = _valid(101) | {"event_id": "oversized", "text": "x" * (MAX_EVENT_BYTES + 1)}
    missing = {k: v for k, v in _valid(102).items() if k != "event_id"}
    unknown_case = {
        "event_id": "unknown-case",
        "type": "contact.message",
        "occurred_at": "2026-11-22T10:00:00Z",
        "channel": "chat",
        "case_id": "no-such-case",
        "text": "hello again",
    }
    unknown_type = _valid(103) | {"event_id": "unknown-type", "type": "contact.deleted"}
    bad_email = _valid(104) | {
        "event_id": "bad-email",
        "identities": [{"kind": "email", "value": "not-an-email"}],
    }
    bad_phone = _valid(105) | {
        "event_id": "bad-phone",
        "identities": [{"kind": "phone", "value": "call me maybe"}],
    }
    return [
        (b'{"event_id": "truncated", "type": "contact.rec', "bad_json"),
        (json.dumps(unknown_type).encode(), "unknown_type"),
        (json.dumps(wrong_types).encode(), "invalid_value"),
        (json.dumps(oversized).encode(), "too_large"),
        (json.dumps(bad_email).encode(), "invalid_value"),
        (json.dumps(bad_phone).encode(), "invalid_value"),
        (json.dumps(missing).encode(), "missing_field"),
        (json.dumps(unknown_case).encode(), "unknown_reference"),
    ]


@pytest.mark.timeout(TEST_CEILING_S)
def test_each_poison_message_goes_to_the_dlq_with_its_reason_and_the_rest_is_routed(
    service: Service,
) -> None:
    service.add_agent("gen", {"general": 2})
    poison = _poison()
    # valid, poison, valid, poison, ... valid: one key, so one partition, in this order.
    payloads: list[bytes] = [json.dumps(_valid(0)).encode()]
    for n, (payload, _) in enumerate(poison, start=1):
        payloads += [payload, json.dumps(_valid(n)).encode()]
    service.publish(*payloads, key=b"one-partition")
    total, valid = len(payloads), len(poison) + 1
    service.wait_processed(total)

    worker = service.runtime.worker
    assert worker is not None
    assert (worker.processed, worker.dead_lettered) == (valid, len(poison))
    dead = read_topic(service.runtime.bootstrap_servers, service.settings.dlq_topic, len(poison))
    assert len(dead) == len(poison)
    offsets = {int(dict(r.headers)["dlq-source"].decode().rsplit("/", 1)[1]): r for r in dead}
    # Poison n sits at offset 2n - 1 of the source partition.
    for n, (payload, reason) in enumerate(poison, start=1):
        record = offsets[2 * n - 1]
        headers = dict(record.headers)
        assert headers["dlq-reason"].decode() == reason, payload[:80]
        assert headers["dlq-error"], "the DLQ says what was wrong"
        assert record.value == payload and record.key == b"one-partition"
    with service.runtime.app.read_uow() as uow:
        routed = uow.repo.processed_among(f"valid-{n}" for n in range(valid + 10))
    assert routed == {f"valid-{n}" for n in range(valid)}
    for reason in {r for _, r in poison}:
        expected = sum(1 for _, r in poison if r == reason)
        assert service.metric("ticketrouter_dlq_messages_total", reason=reason) == expected
    consumer_group = CommittedOffsets(
        service.runtime.bootstrap_servers,
        service.settings.group_id,
        service.settings.contacts_topic,
        service.settings.topic_partitions,
    )
    try:
        wait_committed(consumer_group, total)
    finally:
        consumer_group.close()


@pytest.mark.timeout(TEST_CEILING_S)
def test_a_flood_of_invalid_events_halts_the_worker_and_commits_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = e2e_settings(broker, f"sqlite:///{tmp_path}/router.db").with_overrides(
        topic_partitions=1, batch_size=100
    )
    ensure_topics(
        broker.bootstrap, [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic], 1
    )
    database = connect(settings.database_url)
    database.create_schema()
    good, bad = 30, 150
    publisher = Publisher(broker.bootstrap, settings.contacts_topic)
    offsets = CommittedOffsets(broker.bootstrap, settings.group_id, settings.contacts_topic, 1)
    try:
        with fleet(settings, tmp_path) as workers:
            strict = workers.start("strict", TICKETROUTER_MAX_INVALID_RATIO="0.5")
            publisher.publish(contacts("halt", good, 10))
            wait_processed(database, good, workers)
            wait_committed(offsets, good)

            # A producer deploy goes wrong: everything it sends is garbage.
            for n in range(bad):
                publisher.producer.send(settings.contacts_topic, key=b"k", value=b"{garbage %d" % n)
            publisher.producer.flush()
            wait_until(lambda: not strict.alive(), 60, "the worker halting")
            log = strict.text()
            assert "halting: invalid events exceed TICKETROUTER_MAX_INVALID_RATIO" in log
            assert "neither dead-lettered nor committed" in log
            assert offsets.total() == good, "the offending batch was committed"
            dead = read_all(broker.bootstrap, settings.dlq_topic, lambda _: False, 2)
            assert dead == [], "a halted worker dead-letters nothing"
            assert processed_count(database) == good

            # The operator's way out once the stream is understood: accept and dead-letter it.
            lenient = workers.start("lenient", TICKETROUTER_MAX_INVALID_RATIO="1.0")
            wait_committed(offsets, good + bad)
            dead = read_all(broker.bootstrap, settings.dlq_topic, lambda r: len(r) >= bad, 30)
            assert len(dead) == bad
            assert {dict(r.headers)["dlq-reason"] for r in dead} == {b"bad_json"}
            assert lenient.alive()
    finally:
        offsets.close()
        publisher.close()
        database.dispose()
    assert strict.process.returncode == 1, "a halted worker must exit in failure"
