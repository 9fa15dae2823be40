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
    GET_CASE,
    HEALTH_CHECK,
    RPC_TIMEOUT_S,
    LoadPlan,
    LoadResult,
    client_process,
)
from ticketrouter.entrypoints.bench.grpc_rig import GrpcRig, submit_cases
from ticketrouter.entrypoints.bench.reporting import BenchFailed, emit, percentile, say

GRPC_TARGET = 3_000  # unary calls/s on GetCase (DESIGN.md §8)
CASES = 1_000
CLIENT_PROCESSES, CLIENT_THREADS = 2, 8
WARM_UP_S, MEASURE_S = 1.0, 5.0


def bench_grpc(settings: Settings, db: Path) -> bool:
    clients = f"{CLIENT_PROCESSES} processes x {CLIENT_THREADS} threads"
    say(f"grpc: GetCase and health Check for {MEASURE_S:g}s each from {clients}")
    rig = GrpcRig.start(settings, db)
    try:
        case_ids = submit_cases(rig.target, CASES)
        plan = LoadPlan(
            rig.target, HEALTH_CHECK, (), CLIENT_PROCESSES, CLIENT_THREADS, WARM_UP_S, MEASURE_S
        )
        health, health_cpu = run_clients(plan)
        health_rate = report("grpc_health_check_rate", plan, health, health_cpu)
        plan = LoadPlan(
            rig.target, GET_CASE, case_ids, CLIENT_PROCESSES, CLIENT_THREADS, WARM_UP_S, MEASURE_S
        )
        get_case, get_case_cpu = run_clients(plan)
    finally:
        rig.close()
    rate = get_case.calls / MEASURE_S
    report(
        "grpc_getcase_rate",
        plan,
        get_case,
        get_case_cpu,
        target=GRPC_TARGET,
        meets_target=rate >= GRPC_TARGET,
        baseline=round(health_rate),
        ratio=round(rate / health_rate, 3),
        cases=len(case_ids),
    )
    return health.errors == 0 and get_case.errors == 0


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
            _get(ready, processes, 60, "connect")
        go.set()
        time.sleep(plan.warm_up_s)
        cpu_start = time.process_time()  # this process is the server (and an idle main thread)
        time.sleep(plan.measure_s)
        server_cpu = time.process_time() - cpu_start
        total = LoadResult()
        for _ in processes:
            total.add(_get(results, processes, RPC_TIMEOUT_S + 60, "report"))
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return total, server_cpu


def _get(source: Queue[Any], processes: Sequence[BaseProcess], seconds: float, what: str) -> Any:
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
