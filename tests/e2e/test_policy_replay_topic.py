"""`rules replay --from TOPIC`: past contacts read from Kafka, from the beginning to the
end offsets at the start, with no consumer group and nothing committed."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

from kafka import KafkaProducer

from tests.builders import RULES_FILE, event_json
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.kafka import ensure_topics
from ticketrouter.config import Settings
from ticketrouter.entrypoints.policy_replay import run_replay


def test_replay_reads_a_topic_and_compares_the_policies(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = f"replay-{uuid.uuid4().hex[:8]}"
    ensure_topics(broker.bootstrap, [topic], 2)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
    try:
        for number in range(40):
            topic_name = "tech.login" if number % 4 == 0 else "orders.late"
            event = event_json(
                f"t{number}", [("email", f"p{number}@example.com")], topic=topic_name
            )
            producer.send(topic, key=f"k{number}".encode(), value=json.dumps(event).encode())
        producer.send(topic, key=b"bad", value=b"{not json")
        producer.flush()
    finally:
        producer.close(1)
    draft = tmp_path / "draft.yaml"
    draft.write_text(
        RULES_FILE.read_text(encoding="utf-8").replace("skills: {orders: 2}", "skills: {orders: 1}")
    )
    settings = Settings(database_url=f"sqlite:///{tmp_path}/absent.db", rules_file=RULES_FILE)
    out, err = io.StringIO(), io.StringIO()

    status = run_replay(settings, draft, topic, broker.bootstrap, 0, out, err)

    assert status == 0, err.getvalue()
    report = out.getvalue()
    assert f"Replayed 41 events from topic {topic} at {broker.bootstrap}: 40 contacts" in report
    assert "1 invalid" in report
    assert "orders>=2 → orders>=1" in report
    assert "30 contacts" in report
    limited = io.StringIO()
    assert run_replay(settings, draft, topic, broker.bootstrap, 10, limited, io.StringIO()) == 0
    assert "Replayed 10 events" in limited.getvalue()
