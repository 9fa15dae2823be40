"""kafka-python can raise a retriable connection error out of poll() while the broker
is away. The worker must take it for the transient failure it is and poll again,
not crash: a crashed worker takes its whole process down."""

from __future__ import annotations

from typing import Any

from kafka.errors import KafkaConnectionError, NodeNotReadyError

from tests.integration.worker_doubles import (
    TP,
    RecordingProducer,
    ScriptedConsumer,
    valid_record,
)
from ticketrouter.adapters.kafka import OutboxRelay
from ticketrouter.bootstrap import App
from ticketrouter.entrypoints.worker import ContactWorker


class BrokerAwayFirst(ScriptedConsumer):
    """Raises what kafka-python raised during a real outage, then hands out batches."""

    def __init__(self, failures: list[Exception], *batches: Any) -> None:
        super().__init__(*batches)
        self.failures = failures

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        if self.failures:
            raise self.failures.pop(0)
        return super().poll(timeout_ms, max_records)


def test_a_connection_error_out_of_poll_is_waited_out_not_a_crash(app: App) -> None:
    consumer = BrokerAwayFirst(
        [KafkaConnectionError("111 ECONNREFUSED"), NodeNotReadyError("coordinator")],
        [valid_record(0), valid_record(1)],
    )
    producer = RecordingProducer()
    relay = OutboxRelay(app.database.writer, producer, "routing-decisions")
    app.publish_outbox = relay.send
    worker = ContactWorker(app, consumer, producer, relay)

    assert worker.poll_once(timeout_ms=10) == 0
    assert worker.poll_once(timeout_ms=10) == 0
    assert worker.poll_once(timeout_ms=10) == 2
    assert consumer.commits == [{TP: 2}]
