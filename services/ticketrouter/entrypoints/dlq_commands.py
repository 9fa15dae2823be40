"""`ticketrouter dlq replay`: dead-lettered events back to the input topic after a fix."""

from __future__ import annotations

import sys
import time

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from ticketrouter.adapters.dlq_replay import NoDeadLetterTopic, ReplayReport, replay_dead_letters
from ticketrouter.adapters.kafka import create_producer
from ticketrouter.config import Settings

PROGRESS_EVERY_S = 2.0


def replay_group(settings: Settings) -> str:
    """The replay's own consumer group: it remembers how far replays got, apart from
    the workers' group (whose offsets on the input topic it must never move)."""
    return f"{settings.group_id}-dlq-replay"


def run_dlq_replay(
    settings: Settings, bootstrap: str, reasons: list[str], from_beginning: bool
) -> int:
    if not bootstrap:
        print(
            "ticketrouter dlq replay: needs a Kafka cluster (TICKETROUTER_KAFKA_BOOTSTRAP or "
            "--bootstrap); the embedded broker keeps nothing between runs",
            file=sys.stderr,
        )
        return 2
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=replay_group(settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="ticketrouter-dlq-replay",
        )
    except KafkaError as err:
        print(f"ticketrouter dlq replay: cannot reach Kafka at {bootstrap}: {err}", file=sys.stderr)
        return 2
    producer = create_producer(bootstrap, client_id="ticketrouter-dlq-replay")
    printer = _Progress()
    try:
        report = replay_dead_letters(
            consumer,
            producer,
            settings.dlq_topic,
            settings.contacts_topic,
            frozenset(reasons),
            from_beginning,
            progress=printer,
        )
    except NoDeadLetterTopic as err:
        print(f"ticketrouter dlq replay: {err}", file=sys.stderr)
        return 2
    finally:
        producer.close(5)
        consumer.close(autocommit=False)
    print(_summary(report, settings))
    return 0


class _Progress:
    """A line every few seconds on stderr, so a long replay shows it is moving."""

    def __init__(self) -> None:
        self._last = time.monotonic()

    def __call__(self, report: ReplayReport) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            print(
                f"read {report.read:,} dead letters, replayed {report.replayed:,}",
                file=sys.stderr,
            )


def _summary(report: ReplayReport, settings: Settings) -> str:
    lines = [
        f"replayed {report.replayed:,} events from {settings.dlq_topic} "
        f"to {settings.contacts_topic}"
    ]
    if report.truncated:
        lines.append(
            f"left {report.truncated:,} cut to fit the DLQ (the original is not there to replay)"
        )
    if report.passed_over:
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(report.passed_over.items()))
        lines.append(f"left {sum(report.passed_over.values()):,} dead-lettered for: {reasons}")
    return "\n".join(lines)
