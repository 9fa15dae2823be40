"""Stage 2c: event -> decision latency with the worker running as in production.

The worker runs its own loop on a thread while a separate process offers a paced load;
latencies are read back from the topics afterwards, so measuring costs the worker nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ticketrouter.adapters.kafka import create_producer
from ticketrouter.config import Settings
from ticketrouter.entrypoints.bench.kafka_tools import Topics, read_topic
from ticketrouter.entrypoints.bench.paced_load import PACED_RATE, PACED_SECONDS, run_paced_load
from ticketrouter.entrypoints.bench.reporting import BenchFailed, emit, percentile, say
from ticketrouter.entrypoints.bench.traffic import CONTACTS_PER_CUSTOMER, Traffic, now_ms
from ticketrouter.entrypoints.bench.worker_rig import WorkerRig

LATENCY_TARGET_MS = 50.0  # p99 at 1,000 contacts/s
WARM_UP_EVENTS = 200


def bench_latency(settings: Settings, servers: str, topics: Topics, db: Path) -> bool:
    say(f"latency: {PACED_RATE:,.0f} contacts/s for {PACED_SECONDS:g}s from a separate process")
    rig = WorkerRig.start(settings, servers, topics, db)
    failure: list[BaseException] = []
    thread = threading.Thread(
        target=_guarded(rig.worker.run, failure), name="bench-worker", daemon=True
    )
    thread.start()
    try:
        warm_up = _warm_up(rig, servers, topics.contacts, failure)
        run_paced_load(servers, topics.contacts)
        expected = WARM_UP_EVENTS + int(PACED_RATE * PACED_SECONDS)
        caught_up = _wait_for(lambda: rig.done >= expected, 120, failure)
    finally:
        rig.worker.stop.set()
        thread.join(timeout=30)
        rig.close()
    return report_latency(servers, topics, warm_up, caught_up)


def _guarded(target: Callable[[], None], failure: list[BaseException]) -> Callable[[], None]:
    def run() -> None:
        try:
            target()
        except BaseException as err:
            failure.append(err)

    return run


def _wait_for(condition: Callable[[], bool], seconds: float, failure: list[BaseException]) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if failure:
            raise BenchFailed(f"worker crashed: {failure[0]!r}") from failure[0]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _warm_up(rig: WorkerRig, servers: str, topic: str, failure: list[BaseException]) -> set[str]:
    """Let the worker join its group and route a few contacts before the clock starts."""
    traffic = Traffic(WARM_UP_EVENTS // CONTACTS_PER_CUSTOMER, seed=3)
    producer = create_producer(servers, client_id="ticketrouter-bench-warm-up")
    ids: set[str] = set()
    try:
        for _ in range(WARM_UP_EVENTS):
            event_id, key, value = traffic.next_event(now_ms())
            producer.send(topic, key=key, value=value)
            ids.add(event_id)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)
    if not _wait_for(lambda: rig.done >= WARM_UP_EVENTS, 60, failure):
        raise BenchFailed("the worker did not route the warm-up contacts within 60s")
    return ids


def report_latency(servers: str, topics: Topics, warm_up: set[str], caught_up: bool) -> bool:
    occurred: dict[str, float] = {}
    for record in read_topic(servers, topics.contacts):
        event = json.loads(record.value)
        if event["event_id"] not in warm_up:
            occurred[event["event_id"]] = _epoch_ms(event["occurred_at"])
    decided: dict[str, tuple[float, float]] = {}
    for record in read_topic(servers, topics.decisions):
        decision = json.loads(record.value)
        if decision.get("event_id") in occurred:
            decided[decision["event_id"]] = (_epoch_ms(decision["decided_at"]), record.timestamp)
    if not occurred or not decided:
        raise BenchFailed("no paced contacts were routed")
    routing = [at - occurred[e] for e, (at, _) in decided.items()]
    delivery = [published - occurred[e] for e, (_, published) in decided.items()]
    first = min(occurred.values())
    offered = len(occurred) / max((max(occurred.values()) - first) / 1000, 1e-3)
    achieved = len(decided) / max((max(at for at, _ in decided.values()) - first) / 1000, 1e-3)
    context = {
        "offered_rate": round(offered),
        "achieved_rate": round(achieved),
        "contacts": len(occurred),
        "decided": len(decided),
        "caught_up": caught_up,
    }
    p99 = percentile(routing, 99)
    emit("routing_latency_p50", round(percentile(routing, 50), 1), "ms", **context)
    emit(
        "routing_latency_p99",
        round(p99, 1),
        "ms",
        target=LATENCY_TARGET_MS,
        meets_target=p99 <= LATENCY_TARGET_MS and caught_up,
        max=round(max(routing), 1),
        measured="decided_at - occurred_at",
        **context,
    )
    emit(
        "decision_published_latency_p99",
        round(percentile(delivery, 99), 1),
        "ms",
        p50=round(percentile(delivery, 50), 1),
        measured="routing-decisions record timestamp - occurred_at (after the DB commit)",
        **context,
    )
    # Falling behind is a figure, not a failure; a routed contact without a decision is.
    return not caught_up or len(decided) == len(occurred)


def _epoch_ms(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp() * 1000
