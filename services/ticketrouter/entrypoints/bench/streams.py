"""Stage 5: 1,000 desk streams on one `ticketrouter serve --without-worker` process,
fed by a separate `ticketrouter worker` routing real contacts from Kafka.

Four processes besides this one: the server, the worker, the desks (one asyncio
process holding a `WatchAssignments` stream per agent, desk_streams.py) and the
paced load. Each decision's delay is measured from the moment the worker's outbox relay
sent it, after its commit (the record's timestamp), to its arrival at its agent's
desk (`watch_streams`), beside the same delay to a plain reader of
`routing-decisions` in this process (the baseline: the broker and one fetch,
without the server). `server_rss_mb` is the server's resident set with the
streams open, beside the same server's before they opened.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from ticketrouter.adapters.kafka import ensure_topics
from ticketrouter.bootstrap import bootstrap
from ticketrouter.config import Settings
from ticketrouter.entrypoints.bench.desk_streams import (
    STREAMS_PER_CHANNEL,
    DeskPlan,
    DeskReport,
    desk_process,
)
from ticketrouter.entrypoints.bench.grpc_rate import wait_for_result
from ticketrouter.entrypoints.bench.kafka_tools import Topics
from ticketrouter.entrypoints.bench.paced_load import paced_publish
from ticketrouter.entrypoints.bench.procfs import cpu_seconds, peak_rss_mb, rss_mb
from ticketrouter.entrypoints.bench.reporting import BenchFailed, emit, percentile, say
from ticketrouter.entrypoints.bench.worker_fleet import (
    WorkerProcess,
    start_process,
    stop_workers,
)
from ticketrouter.entrypoints.bench.worker_rig import seed_agents, worker_settings

FETCH_MAX_WAIT_MS = 20  # as the server's reader (adapters/decision_topic.py)
STREAMS = 1_000  # one desk per agent (DESIGN.md §8: 1,000 streams per server)
DELIVERY_P99_TARGET_MS = 100.0
# Contacts/s the worker routes while the desks watch, and for how long: short, as
# the stage runs in bench-quick too.
RATE, SECONDS = 200.0, 6.0
START_TIMEOUT_S = 90.0
DRAIN_TIMEOUT_S = 60.0  # after the load: quiet this long with nothing missing -> done
SETTLED_S = 1.0


class TopicTimes:
    """A plain reader of `routing-decisions`, configured as the server's own: for
    each assigned decision, when the worker's relay sent it (the record's
    timestamp, taken after the commit) and how long after that it was read."""

    def __init__(self, servers: str, topic: str) -> None:
        self.sent_ms: dict[str, float] = {}  # decision id -> record timestamp
        self.agents: dict[str, str] = {}
        self.read_delays: list[float] = []
        self._consumer = KafkaConsumer(
            bootstrap_servers=servers,
            enable_auto_commit=False,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            client_id="ticketrouter-bench-decisions",
        )
        partitions = [
            TopicPartition(topic, n) for n in sorted(self._consumer.partitions_for_topic(topic))
        ]
        self._consumer.assign(partitions)
        self._consumer.seek_to_end(*partitions)
        for partition in partitions:
            self._consumer.position(partition)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-decisions", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=200).values():
                now_ms = time.time() * 1000
                for record in records:
                    fields = json.loads(record.value)
                    if not fields.get("agent_id") or fields["decision_id"] in self.sent_ms:
                        continue
                    with self._lock:
                        self.sent_ms[fields["decision_id"]] = record.timestamp
                        self.agents[fields["decision_id"]] = fields["agent_id"]
                        self.read_delays.append(now_ms - record.timestamp)

    def count(self) -> int:
        with self._lock:
            return len(self.sent_ms)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close(autocommit=False)


def bench_streams(settings: Settings, servers: str, tmp: Path) -> bool:
    topics = Topics.fresh("streams")
    token = uuid.uuid4().hex
    stage = worker_settings(
        settings,
        servers,
        topics,
        tmp / "streams.db",
        grpc_address="127.0.0.1:0",
        platform_tokens=(token,),
        admin_tokens=(uuid.uuid4().hex,),
    )
    say(
        f"streams: {STREAMS:,} desks on one server process, a separate worker routing "
        f"{RATE:.0f} contacts/s for {SECONDS:.0f}s"
    )
    ensure_topics(servers, topics.names, settings.topic_partitions)
    app = bootstrap(stage)
    try:
        seed_agents(app, STREAMS)
    finally:
        app.close()
    agent_ids = tuple(f"agent-{n:05d}" for n in range(STREAMS))
    with ExitStack() as stack:
        # Both start at once: the server's reader and the worker's group join overlap.
        server = start_process(stage, ["serve", "--without-worker"], tmp / "server.log", "json")
        stack.callback(stop_workers, [server])
        worker = start_process(stage, ["worker"], tmp / "streams-worker.log")
        stack.callback(stop_workers, [worker])
        target = _serving_at(server)
        _wait(lambda: bool(worker.assignments()), START_TIMEOUT_S, "the worker to join", worker)
        times = TopicTimes(servers, topics.decisions)
        stack.callback(times.stop)
        before_mb = rss_mb(server.process.pid) or 0.0
        return _measure(
            servers, topics, DeskPlan(target, token, agent_ids), server, times, before_mb
        )


def _measure(
    servers: str,
    topics: Topics,
    plan: DeskPlan,
    server: WorkerProcess,
    times: TopicTimes,
    before_mb: float,
) -> bool:
    context = multiprocessing.get_context("spawn")
    opened: Any = context.Queue()
    reports: Any = context.Queue()
    delivered: Any = context.Value("i", 0)
    stop = context.Event()
    desks = context.Process(
        target=desk_process, args=(plan, opened, delivered, stop, reports), daemon=True
    )
    desks.start()
    try:
        held = wait_for_result(opened, [desks], START_TIMEOUT_S, "open the desks")
        say(f"  desks: {held:,}/{len(plan.agent_ids):,} streams open")
        open_mb = rss_mb(server.process.pid) or 0.0
        cpu_start, wall_start = cpu_seconds(server.process.pid), time.monotonic()
        load = context.Process(
            target=paced_publish, args=(servers, topics.contacts, RATE, SECONDS), daemon=True
        )
        load.start()
        load.join(timeout=SECONDS + 60)
        if load.exitcode != 0:
            raise BenchFailed(f"the paced load generator ended with {load.exitcode}")
        _drain(times, delivered)
        server_cores = (cpu_seconds(server.process.pid) - cpu_start) / (
            time.monotonic() - wall_start
        )
        after_mb = rss_mb(server.process.pid) or 0.0
        peak_mb = peak_rss_mb(server.process.pid) or 0.0
        stop.set()
        report: DeskReport = wait_for_result(reports, [desks], 60, "report")
    finally:
        stop.set()
        desks.join(timeout=10)
        if desks.is_alive():
            desks.kill()
    return _report(plan, report, times, before_mb, open_mb, after_mb, peak_mb, server_cores)


def _drain(times: TopicTimes, delivered: Any) -> None:
    """Until the topic's decisions have all reached the desks and nothing has moved
    for SETTLED_S; a desk still short after DRAIN_TIMEOUT_S is reported as missing."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    last, since = (-1, -1), time.monotonic()
    while time.monotonic() < deadline:
        now = (times.count(), int(delivered.value))
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= SETTLED_S and now[1] >= now[0] > 0:
            return
        time.sleep(0.1)


def _report(
    plan: DeskPlan,
    report: DeskReport,
    times: TopicTimes,
    before_mb: float,
    open_mb: float,
    after_mb: float,
    peak_mb: float,
    server_cores: float,
) -> bool:
    expected = times.agents
    got = [(agent, decision) for agent, decision, _ in report.arrivals]
    # Each decision exactly once, and at its own agent's desk.
    exact = sorted(got) == sorted((agent, decision) for decision, agent in expected.items())
    if not report.arrivals or not expected:
        raise BenchFailed(f"no assignment reached a desk ({len(expected)} on the topic)")
    delays = [
        arrived - times.sent_ms[decision]
        for _, decision, arrived in report.arrivals
        if decision in times.sent_ms
    ]
    p99 = percentile(delays, 99)
    emit(
        "watch_streams",
        report.held,
        "streams",
        target=len(plan.agent_ids),
        meets_target=report.held >= len(plan.agent_ids) and p99 <= DELIVERY_P99_TARGET_MS,
        opened=report.opened,
        delivered=len(report.arrivals),
        expected=len(expected),
        exactly_once_to_its_desk=exact,
        delivery_p50_ms=round(percentile(delays, 50), 1),
        delivery_p99_ms=round(p99, 1),
        delivery_max_ms=round(max(delays), 1),
        delivery_p99_target_ms=DELIVERY_P99_TARGET_MS,
        baseline=round(percentile(times.read_delays, 99), 1),
        baseline_figure="p99 ms to a plain reader of routing-decisions",
        baseline_p50_ms=round(percentile(times.read_delays, 50), 1),
        measured_from="the relay's send after the commit (record timestamp)",
        rate=RATE,
        seconds=SECONDS,
        streams_per_channel=min(len(plan.agent_ids), STREAMS_PER_CHANNEL),
        server_cores=round(server_cores, 2),
        desk_client_cpu_s=round(report.cpu_s, 1),
        **({"ended": report.ended} if report.ended else {}),
    )
    emit(
        "server_rss_mb",
        round(after_mb, 1),
        "MiB",
        baseline=round(before_mb, 1),
        baseline_figure="the same server's RSS before the streams opened",
        streams=report.held,
        just_opened_mb=round(open_mb, 1),
        peak_mb=round(peak_mb, 1),
        per_stream_kib=round((open_mb - before_mb) * 1024 / max(1, report.opened), 1),
    )
    if not exact:
        say(f"streams: desks got {len(got):,} assignments, the topic held {len(expected):,}")
    return exact and report.held == len(plan.agent_ids)


def _serving_at(server: WorkerProcess) -> str:
    found: list[str] = []

    def serving() -> bool:
        for line in server.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"ticketrouter serving"' in line:
                found.append(json.loads(line)["grpc"])
                return True
        return False

    _wait(serving, START_TIMEOUT_S, "the server to serve", server)
    return found[0]


def _wait(condition: Any, seconds: float, what: str, process: WorkerProcess) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if not process.alive():
            raise BenchFailed(f"waiting for {what}, the process ended:\n{process.tail()}")
        if time.monotonic() > deadline:
            raise BenchFailed(f"waited {seconds:.0f}s for {what}:\n{process.tail()}")
        time.sleep(0.1)
