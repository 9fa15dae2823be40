"""Stage 1: publish the contact events that the baseline and the worker then consume."""

from __future__ import annotations

import time
from statistics import fmean

from ticketrouter.adapters.kafka import create_producer
from ticketrouter.entrypoints.bench.reporting import Progress, emit, say
from ticketrouter.entrypoints.bench.traffic import CONTACTS_PER_CUSTOMER, Traffic, now_ms


def bench_publish(
    servers: str, topic: str, events: int, partitions: int, figure: str = "publish_rate"
) -> None:
    customers = max(1, events // CONTACTS_PER_CUSTOMER)
    say(f"publishing {events:,} contact events from {customers:,} customers to {topic}")
    traffic = Traffic(customers, seed=1)
    stamp = now_ms()
    # Built before the clock starts: the figure is the producer's rate, not the generator's.
    messages = [traffic.next_event(stamp + n // 10)[1:] for n in range(events)]
    producer = create_producer(servers, client_id="ticketrouter-bench-publisher")
    progress = Progress("published", events)
    try:
        start = time.perf_counter()
        for n, (key, value) in enumerate(messages, 1):
            producer.send(topic, key=key, value=value)
            if n % 1000 == 0:
                progress.update(n)
        producer.flush(timeout=120)
        elapsed = time.perf_counter() - start
    finally:
        producer.close(timeout=5)
    progress.update(events, final=True)
    emit(
        figure,
        round(events / elapsed),
        "events/s",
        events=events,
        customers=customers,
        partitions=partitions,
        mean_bytes=round(fmean(len(value) for _, value in messages)),
    )
