"""The whole bench run: a broker, fresh topics and a temporary directory, then each stage.

Everything a run creates is released through one ExitStack, so a failing stage still
stops the embedded broker and deletes the topics it made on a real cluster.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection
from contextlib import ExitStack
from pathlib import Path

from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.kafka import ensure_topics
from ticketrouter.adapters.rules_file import load_policy
from ticketrouter.config import Settings
from ticketrouter.entrypoints.bench.baseline import bench_baseline
from ticketrouter.entrypoints.bench.grpc_rate import bench_grpc
from ticketrouter.entrypoints.bench.kafka_tools import Topics, delete_topics
from ticketrouter.entrypoints.bench.latency import bench_latency
from ticketrouter.entrypoints.bench.matching import bench_matching
from ticketrouter.entrypoints.bench.policy import bench_policy
from ticketrouter.entrypoints.bench.publish import bench_publish
from ticketrouter.entrypoints.bench.reporting import BenchFailed, say
from ticketrouter.entrypoints.bench.scale_out import bench_scale_out, topic_names
from ticketrouter.entrypoints.bench.streams import bench_streams
from ticketrouter.entrypoints.bench.throughput import bench_worker

# In the order a run takes them; `--stages` picks some, to measure them alone.
STAGES = ("worker", "latency", "matching", "policy", "grpc", "streams", "scale-out")
_NEED_BROKER = {"worker", "latency", "streams", "scale-out"}


def parse_stages(text: str) -> tuple[str, ...]:
    """`worker,grpc` -> the stages in run order; ValueError naming an unknown one."""
    asked = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(asked - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stage {', '.join(unknown)}: choose from {', '.join(STAGES)}")
    if not asked:
        raise ValueError(f"no stage named: choose from {', '.join(STAGES)}")
    return tuple(stage for stage in STAGES if stage in asked)


def run_bench(
    settings: Settings, events: int, agents: int, stages: Collection[str] = STAGES
) -> int:
    """Runs the stages; exit status 0 if all checks pass, 1 if one fails, 2 on bad input."""
    if events <= 0 or agents <= 0:
        say("--events and --agents must be positive")
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="ticketrouter-bench-") as tmp, ExitStack() as stack:
            return 0 if _run(settings, events, agents, set(stages), Path(tmp), stack) else 1
    except BenchFailed as err:
        say(f"bench failed: {err}")
        return 1


def _run(
    settings: Settings, events: int, agents: int, stages: set[str], tmp: Path, stack: ExitStack
) -> bool:
    servers = _broker(settings, tmp, stack) if stages & _NEED_BROKER else ""
    ok = True
    if stages & {"worker", "latency"}:
        ok = _kafka_stages(settings, servers, events, stages, tmp, stack)
    if "matching" in stages:
        bench_matching(load_policy(settings.rules_file), agents)
    if "policy" in stages:
        bench_policy()
    if "grpc" in stages:
        ok = bench_grpc(settings, tmp / "grpc.db") and ok
    if "streams" in stages:
        ok = bench_streams(settings, servers, tmp) and ok
    if "scale-out" in stages:
        scale_out = Topics.fresh("scale-out")
        if settings.kafka_bootstrap:
            stack.callback(delete_topics, servers, topic_names(scale_out))
        ok = bench_scale_out(settings, servers, scale_out, events, tmp) and ok
    return ok


def _kafka_stages(
    settings: Settings, servers: str, events: int, stages: set[str], tmp: Path, stack: ExitStack
) -> bool:
    throughput, paced = Topics.fresh("throughput"), Topics.fresh("paced")
    ensure_topics(servers, throughput.names + paced.names, settings.topic_partitions)
    if settings.kafka_bootstrap:  # an embedded broker forgets everything when it stops
        stack.callback(delete_topics, servers, throughput.names + paced.names)
    ok = True
    if "worker" in stages:
        bench_publish(servers, throughput.contacts, events, settings.topic_partitions)
        baseline = bench_baseline(servers, throughput.contacts, events, settings.batch_size)
        ok = bench_worker(settings, servers, throughput, tmp / "throughput.db", events, baseline)
    if "latency" in stages:
        ok = bench_latency(settings, servers, paced, tmp / "latency.db") and ok
    return ok


def _broker(settings: Settings, tmp: Path, stack: ExitStack) -> str:
    if settings.kafka_bootstrap:
        say(f"using the Kafka cluster at {settings.kafka_bootstrap}")
        return settings.kafka_bootstrap
    broker = EmbeddedBroker(log_path=tmp / "broker.log").start()
    stack.callback(broker.stop)
    say(f"embedded broker on {broker.bootstrap}")
    return broker.bootstrap
