"""The paced load of stage 2c, generated in a separate process.

A load generator in the worker's process would compete with it for the GIL and
show up as routing latency.
"""

from __future__ import annotations

import multiprocessing
import time

from ticketrouter.adapters.kafka import create_producer
from ticketrouter.entrypoints.bench.reporting import BenchFailed
from ticketrouter.entrypoints.bench.traffic import CONTACTS_PER_CUSTOMER, Traffic, now_ms

PACED_RATE = 1_000.0
PACED_SECONDS = 5.0


def run_paced_load(servers: str, topic: str) -> None:
    """Publishes PACED_RATE contacts/s for PACED_SECONDS and waits for the child to finish."""
    process = multiprocessing.get_context("spawn").Process(
        target=paced_publish, args=(servers, topic, PACED_RATE, PACED_SECONDS), daemon=True
    )
    process.start()
    process.join(timeout=PACED_SECONDS + 60)
    if process.is_alive():
        process.kill()
        raise BenchFailed("the paced load generator did not finish")
    if process.exitcode != 0:
        raise BenchFailed(f"the paced load generator exited with {process.exitcode}")


def paced_publish(servers: str, topic: str, rate: float, seconds: float) -> None:
    """Child process: `rate` contacts/s for `seconds`, occurred_at = send time (ms)."""
    total = int(rate * seconds)
    traffic = Traffic(total // CONTACTS_PER_CUSTOMER, seed=5)
    # No linger: an event waiting in the load generator's buffer is not router latency.
    producer = create_producer(servers, client_id="ticketrouter-bench-load", linger_ms=0)
    try:
        start, sent = time.monotonic(), 0
        while sent < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while sent < due:
                _, key, value = traffic.next_event(now_ms())
                producer.send(topic, key=key, value=value)
                sent += 1
            time.sleep(0.001)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)
