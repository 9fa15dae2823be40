"""The bench's worker stage over the real broker, on a few events: its check that
every event was routed once and every decision published (outbox empty) holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.kafka import ensure_topics
from ticketrouter.config import Settings
from ticketrouter.entrypoints.bench.kafka_tools import Topics
from ticketrouter.entrypoints.bench.publish import bench_publish
from ticketrouter.entrypoints.bench.throughput import bench_worker

pytestmark = pytest.mark.e2e
EVENTS = 1200


def test_the_worker_stage_verifies_every_event_and_decision(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(topic_partitions=2, batch_size=500)
    topics = Topics.fresh("bench-test")
    ensure_topics(broker.bootstrap, topics.names, settings.topic_partitions)
    bench_publish(broker.bootstrap, topics.contacts, EVENTS, settings.topic_partitions)
    assert bench_worker(settings, broker.bootstrap, topics, tmp_path / "t.db", EVENTS, 1.0)
    figures = {
        line["figure"]: line
        for line in map(json.loads, capsys.readouterr().out.splitlines())
        if line.get("figure")
    }
    checked = figures["worker_processed_events"]
    assert checked["ok"] and checked["outbox_left"] == 0
    assert checked["events_with_decision"] == EVENTS
    assert figures["worker_throughput"]["value"] > 0
