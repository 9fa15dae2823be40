"""Stage 4: unary gRPC calls/s on `RoutingService.GetCase`, beside the stock health
`Check` on the same server with the same clients (the ceiling of the gRPC stack itself).

`server_cores` and `client_cores` are the CPU each side used in the measured window: on
a 2-core machine the clients take cores the server would otherwise have.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from ticketrouter.config import Settings
from ticketrouter.entrypoints.bench.grpc_load import (
    EXPLAIN_DECISION,
    GET_CASE,
    GET_CUSTOMER,
    GET_TIMELINE,
    HEALTH_CHECK,
    LIST_QUEUE,
    RPC_TIMEOUT_S,
    LoadPlan,
    LoadResult,
    client_process,
)
from ticketrouter.entrypoints.bench.grpc_rig import GrpcRig, submit_cases
from ticketrouter.entrypoints.bench.reporting import BenchFailed, emit, percentile, say

GRPC_TARGET = 3_000  # unary calls/s on GetCase (DESIGN.md §8)
GETCASE_P99_TARGET_MS = 20.0
CASES = 1_000
CLIENT_PROCESSES, CLIENT_THREADS = 2, 8
WARM_UP_S, MEASURE_S = 1.0, 5.0
# The other reads, each beside the health check of the same run: shorter windows
# keep the stage inside bench-quick's minutes.
OTHER_READS = (
    ("grpc_timeline_rate", GET_TIMELINE),
    ("grpc_getcustomer_rate", GET_CUSTOMER),
    ("grpc_listqueue_rate", LIST_QUEUE),
    ("grpc_explain_rate", EXPLAIN_DECISION),
)
OTHER_MEASURE_S = 3.0


def bench_grpc(settings: Settings, db: Path) -> bool:
    clients = f"{CLIENT_PROCESSES} processes x {CLIENT_THREADS} threads"
    say(f"grpc: health Check, GetCase and the other reads, each for a few s from {clients}")
    rig = GrpcRig.start(settings, db)
    try:
        cases = submit_cases(rig.target, CASES)
        ids = tuple(cases), tuple(cases.values())

        def measure(call: str, seconds: float) -> tuple[LoadPlan, LoadResult, float]:
            plan = LoadPlan(
                rig.target, call, *ids, CLIENT_PROCESSES, CLIENT_THREADS, WARM_UP_S, seconds
            )
            return (plan, *run_clients(plan))

        health = measure(HEALTH_CHECK, MEASURE_S)
        get_case = measure(GET_CASE, MEASURE_S)
        others = [(figure, measure(call, OTHER_MEASURE_S)) for figure, call in OTHER_READS]
    finally:
        rig.close()
    health_rate = report("grpc_health_check_rate", *health)
    baseline: dict[str, Any] = {
        "baseline": round(health_rate),
        "baseline_figure": "grpc_health_check_rate",
    }
    rate = report(
        "grpc_getcase_rate",
        *get_case,
        target=GRPC_TARGET,
        meets_target=get_case[1].calls / MEASURE_S >= GRPC_TARGET,
        **baseline,
        ratio=round(get_case[1].calls / MEASURE_S / health_rate, 3),
        cases=len(cases),
    )
    p99 = percentile(get_case[1].latencies_ms, 99)
    emit(
        "grpc_getcase_p99_ms",
        round(p99, 2),
        "ms",
        target=GETCASE_P99_TARGET_MS,
        meets_target=p99 <= GETCASE_P99_TARGET_MS,
        baseline=round(percentile(health[1].latencies_ms, 99), 2),
        baseline_figure="grpc_health_check p99_ms",
        rate=round(rate),
        clients=CLIENT_PROCESSES * CLIENT_THREADS,
    )
    for figure, (plan, result, cpu) in others:
        report(
            figure,
            plan,
            result,
            cpu,
            **baseline,
            ratio=round(result.calls / plan.measure_s / health_rate, 3),
        )
    return all(r.errors == 0 for _, r, _ in (health, get_case, *(o for _, o in others)))


def run_clients(plan: LoadPlan) -> tuple[LoadResult, float]:
    """Runs the plan's client processes; returns their result and the server's CPU seconds."""
    context = multiprocessing.get_context("spawn")
    ready: Queue[str] = context.Queue()
    results: Queue[LoadResult] = context.Queue()
    go = context.Event()
    processes = [
        context.Process(target=client_process, args=(plan, ready, go, results), daemon=True)
        for _ in range(plan.processes)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            wait_for_result(ready, processes, 60, "connect")
        go.set()
        time.sleep(plan.warm_up_s)
        cpu_start = time.process_time()  # this process is the server (and an idle main thread)
        time.sleep(plan.measure_s)
        server_cpu = time.process_time() - cpu_start
        total = LoadResult()
        for _ in processes:
            total.add(wait_for_result(results, processes, RPC_TIMEOUT_S + 60, "report"))
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return total, server_cpu


def wait_for_result(
    source: Queue[Any], processes: Sequence[BaseProcess], seconds: float, what: str
) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return source.get(timeout=0.5)
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in processes):
                raise BenchFailed(f"a gRPC client process failed to {what}") from None
    raise BenchFailed(f"the gRPC client processes did not {what} within {seconds:g}s")


def report(figure: str, plan: LoadPlan, result: LoadResult, cpu: float, **extra: Any) -> float:
    """Emits the figure; returns calls/s."""
    if not result.calls:
        raise BenchFailed(f"{figure}: no call succeeded, errors {result.error_codes}")
    rate = result.calls / plan.measure_s
    emit(
        figure,
        round(rate),
        "calls/s",
        **extra,
        clients=plan.processes * plan.threads,
        client_processes=plan.processes,
        threads_per_process=plan.threads,
        p50_ms=round(percentile(result.latencies_ms, 50), 2),
        p99_ms=round(percentile(result.latencies_ms, 99), 2),
        errors=result.errors,
        **({"error_codes": result.error_codes} if result.error_codes else {}),
        calls=result.calls,
        seconds=plan.measure_s,
        server_cores=round(cpu / plan.measure_s, 2),
        client_cores=round(result.cpu_s / plan.measure_s, 2),
    )
    if result.errors:
        say(f"{figure}: {result.errors} calls FAILED: {result.error_codes}")
    return rate
