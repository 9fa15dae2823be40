"""`ticketrouter dlq replay` on a real broker with a real worker: dead-lettered
events go back to the input topic and are routed once, whatever is run again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, NamedTuple

import pytest

from tests.builders import event_json
from tests.e2e.conftest import Service, read_topic
from ticketrouter.adapters.dead_letters import DeadLetterQueue, dead_letter_copy
from ticketrouter.config import to_env

pytestmark = pytest.mark.e2e

ROUTABLE = 6


class Record(NamedTuple):
    """A consumed record as the worker saw it when it dead-lettered it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def replay(service: Service, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticketrouter.entrypoints.cli", "dlq", "replay", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **to_env(service.settings)},
    )


def fill_dlq(service: Service) -> None:
    """What a worker with a bug (since fixed) left behind: routable events dead-lettered
    as processing errors, one of them too large to have been kept whole, and one
    event that was never valid."""
    topic = service.settings.contacts_topic

    def record(offset: int, value: bytes) -> Record:
        return Record(topic, 0, offset, b"k", value, [("traceparent", b"00-abc-01")])

    letters = [
        dead_letter_copy(
            record(i, json.dumps(event_json(f"r{i}", [("email", f"c{i}@x.com")])).encode()),
            "processing_error",
            "AttributeError: a bug since fixed",
        )
        for i in range(ROUTABLE)
    ]
    large = json.dumps(event_json("big", [("email", "big@x.com")], attributes={"x": "y" * 500}))
    letters.append(
        dead_letter_copy(record(90, large.encode()), "processing_error", "bug", budget=300)
    )
    letters.append(dead_letter_copy(record(91, b"{not json"), "bad_json", "Expecting value"))
    assert "dlq-truncated" in dict(letters[ROUTABLE].headers)
    DeadLetterQueue(service.producer, service.settings.dlq_topic).send(letters)


def decision_ids(service: Service, expected: int) -> list[str]:
    bootstrap, topic = service.runtime.bootstrap_servers, service.settings.decisions_topic
    return sorted(json.loads(r.value)["event_id"] for r in read_topic(bootstrap, topic, expected))


def test_replay_routes_each_dead_letter_once_however_often_it_runs(service: Service) -> None:
    service.add_agent("gen", {"general": 2}, capacity={"email": 10})
    fill_dlq(service)

    first = replay(service, "--reason", "processing_error")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"replayed {ROUTABLE} events from {service.settings.dlq_topic} "
        f"to {service.settings.contacts_topic}",
        "left 1 cut to fit the DLQ (the original is not there to replay)",
        "left 1 dead-lettered for: bad_json 1",
    ]
    service.wait_processed(ROUTABLE)
    assert decision_ids(service, ROUTABLE) == [f"r{i}" for i in range(ROUTABLE)]
    replayed: list[Any] = read_topic(
        service.runtime.bootstrap_servers, service.settings.contacts_topic, ROUTABLE
    )
    for copy in replayed:
        headers = dict(copy.headers)
        assert headers["traceparent"] == b"00-abc-01", "the original headers go back"
        assert headers["dlq-replayed-from"].startswith(service.settings.dlq_topic.encode())
        assert [name for name in headers if name.startswith("dlq-")] == ["dlq-replayed-from"]

    again = replay(service)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0].startswith("replayed 0 events"), "the group remembers"

    # Starting over re-sends every copy, the invalid one too: the worker skips the
    # event ids it has processed and dead-letters the invalid event again.
    over = replay(service, "--from-beginning")
    assert over.returncode == 0, over.stderr
    assert over.stdout.splitlines()[0].startswith(f"replayed {ROUTABLE + 1} events")
    service.wait_processed(ROUTABLE + ROUTABLE + 1)
    assert decision_ids(service, ROUTABLE) == [f"r{i}" for i in range(ROUTABLE)]
    assert service.metric("ticketrouter_contacts_received_total", channel="email") == ROUTABLE
    assert service.metric("ticketrouter_dlq_messages_total", reason="bad_json") == 1


def test_replay_needs_a_cluster_and_an_existing_topic(service: Service) -> None:
    nowhere = subprocess.run(
        [sys.executable, "-m", "ticketrouter.entrypoints.cli", "dlq", "replay"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TICKETROUTER_KAFKA_BOOTSTRAP": ""},
    )
    assert nowhere.returncode == 2
    assert "needs a Kafka cluster" in nowhere.stderr
    env = {**to_env(service.settings), "TICKETROUTER_DLQ_TOPIC": "no-such-dlq"}
    missing = subprocess.run(
        [sys.executable, "-m", "ticketrouter.entrypoints.cli", "dlq", "replay"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert missing.returncode == 2, missing.stderr
    assert "no topic 'no-such-dlq'" in missing.stderr
    assert "Traceback" not in missing.stderr
