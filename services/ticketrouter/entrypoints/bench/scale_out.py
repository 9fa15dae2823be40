"""Stage 5: combined throughput of 1, 2 and 4 `ticketrouter worker` processes in one
consumer group against one PostgreSQL database, beside the raw consume rate of the
same events measured in the same run.

The events are published once; each worker count drains them with a group of its
own (so from offset 0) into a fresh database. All workers start together so the
group forms once; the rate counts from the first committed event to the last, and a
run whose group rebalanced meanwhile says so (`stable_group: false`). `batch_retries`
counts batches the workers rolled back and routed again after a transient database
failure (on PostgreSQL, mostly deadlocks between workers reserving the same agents).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ticketrouter.adapters.kafka import ensure_topics
from ticketrouter.adapters.orm import CustomerRow, ProcessedEventRow
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings
from ticketrouter.entrypoints.bench.baseline import bench_baseline
from ticketrouter.entrypoints.bench.kafka_tools import Topics
from ticketrouter.entrypoints.bench.procfs import cpu_seconds, peak_rss_mb, postgres_cpu_seconds
from ticketrouter.entrypoints.bench.publish import bench_publish
from ticketrouter.entrypoints.bench.reporting import BenchFailed, Progress, emit, say
from ticketrouter.entrypoints.bench.throughput import count_rows
from ticketrouter.entrypoints.bench.worker_fleet import (
    NoPostgres,
    WorkerProcess,
    postgres_server,
    scratch_database,
    start_workers,
    stop_workers,
)
from ticketrouter.entrypoints.bench.worker_rig import SEEDED_AGENTS, seed_agents

WORKER_COUNTS = (1, 2, 4)
EFFICIENCY_TARGET = 0.8  # contacts per CPU-second with 4 workers vs with 1
RSS_TARGET_MB = 300.0
# Per worker count: a steady rate (20 batches of 500) while keeping `make bench` short.
MAX_EVENTS = 10_000


def scale_out_topics(base: Topics) -> dict[int, Topics]:
    """One input topic for every run; decisions and DLQ topics of each run's own."""
    return {
        count: Topics(base.contacts, f"{base.decisions}.w{count}", f"{base.dlq}.w{count}")
        for count in WORKER_COUNTS
    }


def topic_names(base: Topics) -> list[str]:
    runs = scale_out_topics(base).values()
    return [base.contacts, *(name for run in runs for name in run.names[1:])]


def bench_scale_out(settings: Settings, servers: str, base: Topics, events: int, tmp: Path) -> bool:
    """Needs PostgreSQL: without it the stage says so and is skipped (not a failure)."""
    server = postgres_server(settings)
    try:
        with scratch_database(server):
            pass
    except NoPostgres as err:
        say(f"scale-out: skipped, no PostgreSQL at {server}: {err}")
        return True
    events = min(events, MAX_EVENTS)
    partitions = max(settings.topic_partitions, max(WORKER_COUNTS))
    ensure_topics(servers, [base.contacts], partitions)
    say(f"scale-out: {events:,} events, {partitions} partitions, workers {WORKER_COUNTS}")
    bench_publish(servers, base.contacts, events, partitions, "scale_out_publish_rate")
    baseline = bench_baseline(
        servers, base.contacts, events, settings.batch_size, "scale_out_consume_baseline"
    )
    single: float | None = None
    single_efficiency: float | None = None
    for count, run in scale_out_topics(base).items():
        drained = _drain(settings, servers, run, partitions, count, events, server, tmp)
        rate, stable, retries = drained.rate, drained.stable, drained.retries
        single = single or rate
        emit(
            "scale_out_throughput",
            round(rate),
            "contacts/s",
            workers=count,
            events=events,
            partitions=partitions,
            batch_size=settings.batch_size,
            database="postgresql",
            baseline=round(baseline),
            ratio=round(rate / baseline, 3),
            speedup=round(rate / single, 2),
            stable_group=stable,
            batch_retries=retries,
        )
        if drained.contacts_per_cpu_second is not None:
            efficiency = drained.contacts_per_cpu_second
            single_efficiency = single_efficiency or efficiency
            emit(
                "scale_out_contacts_per_cpu_second",
                round(efficiency, 1),
                "contacts/cpu-s",
                workers=count,
                cpu_seconds=round(drained.cpu_seconds, 1),
                counted="worker processes and every PostgreSQL process, first to last event",
                baseline=round(single_efficiency, 1),
                ratio=round(efficiency / single_efficiency, 2),
                target_ratio=EFFICIENCY_TARGET,
                meets_target=efficiency / single_efficiency >= EFFICIENCY_TARGET,
            )
        emit(
            "worker_rss_mb",
            round(drained.peak_rss_mb, 1),
            "MiB",
            workers=count,
            measured="largest peak resident set (VmHWM) among the workers",
            agents=SEEDED_AGENTS,
            customers=drained.customers,
            events=events,
            target_mb=RSS_TARGET_MB,
            meets_target=drained.peak_rss_mb <= RSS_TARGET_MB,
        )
    return True


@dataclass(frozen=True)
class Drained:
    rate: float
    stable: bool
    retries: int
    cpu_seconds: float
    contacts_per_cpu_second: float | None
    peak_rss_mb: float
    customers: int


def _drain(
    settings: Settings,
    servers: str,
    topics: Topics,
    partitions: int,
    count: int,
    events: int,
    server: str,
    tmp: Path,
) -> Drained:
    """The rate, whether the group formed once, batches retried after a transient
    failure, and what the run cost in CPU and memory."""
    with scratch_database(server) as url:
        stage = settings.with_overrides(
            database_url=url,
            kafka_bootstrap=servers,
            contacts_topic=topics.contacts,
            decisions_topic=topics.decisions,
            dlq_topic=topics.dlq,
            topic_partitions=partitions,
            group_id=f"{topics.decisions}-group",
        )
        app = bootstrap(stage)
        try:
            seed_agents(app, SEEDED_AGENTS)
            ensure_topics(servers, [topics.decisions, topics.dlq], partitions)
            say(f"  {count} worker(s) draining into a fresh PostgreSQL database")
            workers = start_workers(stage, count, tmp)
            try:
                rate, routed, cpu = _time_drain(app, workers, events)
                peak = max(peak_rss_mb(w.process.pid) or 0.0 for w in workers)
                customers = count_rows(app, CustomerRow)
            finally:
                stop_workers(workers)
            stable = (
                all(len(w.assignments()) == 1 for w in workers)
                and sum(w.assignments()[-1] for w in workers) == partitions
            )
        finally:
            app.close()
    return Drained(
        rate,
        stable,
        sum(w.retried_batches() for w in workers),
        cpu or 0.0,
        routed / cpu if cpu else None,
        peak,
        customers,
    )


def _cpu_now(workers: list[WorkerProcess]) -> float | None:
    database = postgres_cpu_seconds()
    if database is None:
        return None
    return database + sum(cpu_seconds(w.process.pid) for w in workers)


def _time_drain(
    app: App, workers: list[WorkerProcess], events: int
) -> tuple[float, int, float | None]:
    """Polls the database: the rate counts from the first routed event to the last.
    Also the events routed in that span and the CPU seconds it cost (None when
    PostgreSQL runs elsewhere and its CPU cannot be read)."""
    progress = Progress("routed", events)
    deadline = time.monotonic() + 120 + events / 100
    first: tuple[float, int] | None = None
    cpu_at_first: float | None = None
    while True:
        done = count_rows(app, ProcessedEventRow)
        now = time.perf_counter()
        if first is None and done:
            first = (now, done)
            cpu_at_first = _cpu_now(workers)
        progress.update(done)
        if done >= events:
            break
        if time.monotonic() > deadline or not any(w.alive() for w in workers):
            raise BenchFailed(
                f"scale-out workers routed {done:,} of {events:,} events; "
                f"last words of a worker:\n{workers[0].tail()}"
            )
        time.sleep(0.05)
    cpu_at_last = _cpu_now(workers)
    progress.update(done, final=True)
    since, base = first or (now, 0)
    cpu = cpu_at_last - cpu_at_first if cpu_at_first is not None and cpu_at_last else None
    return (events - base) / max(now - since, 1e-3), events - base, cpu
