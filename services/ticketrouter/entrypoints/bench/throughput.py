"""Stage 2b: the worker's throughput on the published events, and the check behind it.

Kafka in -> decision committed -> published through the outbox -> offsets committed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from ticketrouter.adapters.orm import CaseRow, CustomerRow, MergeRow, OutboxRow, ProcessedEventRow
from ticketrouter.bootstrap import App
from ticketrouter.config import Settings
from ticketrouter.domain.decisions import Outcome
from ticketrouter.entrypoints.bench.kafka_tools import Topics, read_topic
from ticketrouter.entrypoints.bench.reporting import BenchFailed, Progress, emit, say
from ticketrouter.entrypoints.bench.worker_rig import SEEDED_AGENTS, WorkerRig

THROUGHPUT_TARGET = 5_000  # contacts/s per worker process (DESIGN.md §8)


def bench_worker(
    settings: Settings, servers: str, topics: Topics, db: Path, events: int, baseline: float
) -> bool:
    say(f"worker: {events:,} events, Kafka -> SQLite -> outbox -> {topics.decisions}")
    rig = WorkerRig.start(settings, servers, topics, db)
    try:
        batches = _drive(rig, events, deadline=time.monotonic() + 120 + events / 100)
        # Decisions go out at commit and their rows are deleted once acknowledged:
        # the figure counts until the broker has acknowledged the last of them.
        rig.worker.relay.drain()
        elapsed = time.perf_counter() - (rig.consumer.first_records_at or time.perf_counter())
        rate = events / elapsed
        emit(
            "worker_throughput",
            round(rate),
            "contacts/s",
            events=events,
            partitions=settings.topic_partitions,
            batch_size=settings.batch_size,
            batches=batches,
            mean_batch=round(events / max(batches, 1)),
            baseline=round(baseline),
            ratio=round(rate / baseline, 3),
            target=THROUGHPUT_TARGET,
            meets_target=rate >= THROUGHPUT_TARGET,
            agents=SEEDED_AGENTS,
            outcomes=outcomes(rig.app),
        )
        return verify(rig, servers, topics, events)
    finally:
        rig.close()


def _drive(rig: WorkerRig, events: int, deadline: float) -> int:
    """poll_once until every event is routed or dead-lettered; returns non-empty batches."""
    progress = Progress("routed", events)
    batches = 0
    while rig.done < events:
        if time.monotonic() > deadline:
            raise BenchFailed(f"worker routed {rig.done:,} of {events:,} events in time")
        if rig.worker.poll_once():
            batches += 1
        progress.update(rig.done)
    progress.update(rig.done, final=True)
    return batches


def verify(rig: WorkerRig, servers: str, topics: Topics, events: int) -> bool:
    """The figure is honest only if every event left its mark in the database and Kafka."""
    app = rig.app
    processed = count_rows(app, ProcessedEventRow)
    outbox_left = count_rows(app, OutboxRow)
    decisions = read_topic(servers, topics.decisions)
    decided = len({json.loads(record.value)["event_id"] for record in decisions})
    ok = processed == events and outbox_left == 0 and decided == events
    emit(
        "worker_processed_events",
        processed,
        "rows",
        expected=events,
        ok=ok,
        decisions_published=len(decisions),
        events_with_decision=decided,
        outbox_left=outbox_left,
        dead_lettered=rig.worker.dead_lettered,
        customers=count_rows(app, CustomerRow, col(CustomerRow.merged_into).is_(None)),
        merges=count_rows(app, MergeRow),
        cases=count_rows(app, CaseRow),
    )
    if not ok:
        say("worker verification FAILED: see worker_processed_events")
    return ok


def count_rows(app: App, table: Any, *where: Any) -> int:
    with app.database.reader.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        )


def outcomes(app: App) -> dict[str, int]:
    get = app.registry.get_sample_value
    return {
        o.value: int(get("ticketrouter_routing_decisions_total", {"outcome": o.value}) or 0)
        for o in Outcome
    }
