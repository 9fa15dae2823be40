"""Stage 2a, the ceiling: how fast raw kafka-python consume + json.loads can go.

The worker's throughput is reported as a ratio of this, so a slow broker or machine
does not read as a slow router.
"""

from __future__ import annotations

import json
import time

from ticketrouter.entrypoints.bench.kafka_tools import group_consumer
from ticketrouter.entrypoints.bench.reporting import BenchFailed, Progress, emit, say


def bench_baseline(
    servers: str,
    topic: str,
    events: int,
    batch_size: int,
    figure: str = "kafka_consume_baseline",
) -> float:
    say("baseline: raw kafka-python consume + json.loads (group join excluded)")
    consumer = group_consumer(servers, topic, f"{topic}-baseline", batch_size)
    progress = Progress("consumed", events)
    read = 0
    deadline = time.monotonic() + 60 + events / 1_000
    try:
        while read < events:
            if time.monotonic() > deadline:
                raise BenchFailed(f"baseline consumer read {read:,} of {events:,} events")
            for batch in consumer.poll(timeout_ms=1000, max_records=batch_size).values():
                for record in batch:
                    json.loads(record.value)
                read += len(batch)
            progress.update(read)
        elapsed = time.perf_counter() - (consumer.first_records_at or time.perf_counter())
    finally:
        consumer.close()
    progress.update(read, final=True)
    rate = events / elapsed
    emit(figure, round(rate), "events/s", events=events, max_records=batch_size)
    return rate
