"""The unary-call load of stage 4, driven from separate processes.

Clients in the server's process would compete with it for the GIL, so each client
process runs a few threads, each with its own channel, calling as fast as it is answered.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ticketrouter.v1 import customers_pb2, customers_pb2_grpc, routing_pb2, routing_pb2_grpc

RPC_TIMEOUT_S = 5.0
HEALTH_CHECK, GET_CASE = "health_check", "get_case"
GET_CUSTOMER, GET_TIMELINE = "get_customer", "get_timeline"
LIST_QUEUE, EXPLAIN_DECISION = "list_queue", "explain_decision"


@dataclass(frozen=True)
class LoadPlan:
    target: str
    call: str  # HEALTH_CHECK, GET_CASE, ...
    case_ids: tuple[str, ...]  # and their customers, in the same order
    customer_ids: tuple[str, ...]
    processes: int
    threads: int
    warm_up_s: float
    measure_s: float


@dataclass
class LoadResult:
    """Calls completed inside the measured window by every client thread together."""

    calls: int = 0
    errors: int = 0
    cpu_s: float = 0.0  # client CPU time within the window, all processes
    latencies_ms: list[float] = field(default_factory=list)
    error_codes: dict[str, int] = field(default_factory=dict)

    def add(self, other: LoadResult) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.cpu_s += other.cpu_s
        self.latencies_ms.extend(other.latencies_ms)
        for code, count in other.error_codes.items():
            self.error_codes[code] = self.error_codes.get(code, 0) + count


def client_process(
    plan: LoadPlan, ready: Queue[str], go: Event, results: Queue[LoadResult]
) -> None:
    """Child process: connect every channel, wait for `go`, call until the window closes."""
    channels = [grpc.insecure_channel(plan.target) for _ in range(plan.threads)]
    for channel in channels:
        grpc.channel_ready_future(channel).result(timeout=30)
    calls = [_caller(channel, plan, random.Random(n)) for n, channel in enumerate(channels)]
    ready.put("ready")
    go.wait()
    warm_end = time.monotonic() + plan.warm_up_s
    end = warm_end + plan.measure_s
    partial = [LoadResult() for _ in calls]
    threads = [
        threading.Thread(target=_call_until, args=(call, warm_end, end, out), daemon=True)
        for call, out in zip(calls, partial, strict=True)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, warm_end - time.monotonic()))
    cpu_start = time.process_time()
    time.sleep(max(0.0, end - time.monotonic()))
    total = LoadResult(cpu_s=time.process_time() - cpu_start)
    for thread, out in zip(threads, partial, strict=True):
        thread.join(timeout=RPC_TIMEOUT_S + 5)
        total.add(out)
    for channel in channels:
        channel.close()
    results.put(total)


def _caller(channel: grpc.Channel, plan: LoadPlan, rng: random.Random) -> Callable[[], bool]:
    """One call per invocation; True if the answer is the one asked for."""
    if plan.call == HEALTH_CHECK:
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest()
        serving = health_pb2.HealthCheckResponse.SERVING
        return lambda: bool(health.Check(check, timeout=RPC_TIMEOUT_S).status == serving)
    if plan.call in (GET_CUSTOMER, GET_TIMELINE):
        return _customer_caller(channel, plan, rng)
    routing = routing_pb2_grpc.RoutingServiceStub(channel)  # type: ignore[no-untyped-call]
    if plan.call == LIST_QUEUE:
        queue = routing_pb2.ListQueueRequest(limit=20)
        return lambda: routing.ListQueue(queue, timeout=RPC_TIMEOUT_S).depth >= 0
    if plan.call == EXPLAIN_DECISION:
        # Built up front: the figure is the server's rate, not the client's request building.
        explains = [routing_pb2.ExplainDecisionRequest(case_id=c) for c in plan.case_ids]
        return _answers_for(routing.ExplainDecision, explains, "case_id", rng)
    requests = [routing_pb2.GetCaseRequest(case_id=case_id) for case_id in plan.case_ids]
    return _answers_for(routing.GetCase, requests, "case_id", rng)


def _customer_caller(
    channel: grpc.Channel, plan: LoadPlan, rng: random.Random
) -> Callable[[], bool]:
    customers = customers_pb2_grpc.CustomerServiceStub(channel)  # type: ignore[no-untyped-call]
    if plan.call == GET_TIMELINE:
        pages = [
            customers_pb2.GetTimelineRequest(customer_id=c, page_size=20) for c in plan.customer_ids
        ]
        return lambda: bool(customers.GetTimeline(rng.choice(pages), timeout=RPC_TIMEOUT_S).items)
    asks = [customers_pb2.GetCustomerRequest(customer_id=c) for c in plan.customer_ids]
    return _answers_for(customers.GetCustomer, asks, "customer_id", rng)


def _answers_for(
    method: Callable[..., Any], requests: list[Any], id_field: str, rng: random.Random
) -> Callable[[], bool]:
    """Calls `method` with one of `requests` at random; True if the answer is about
    the id asked for."""

    def call() -> bool:
        request = rng.choice(requests)
        answer = method(request, timeout=RPC_TIMEOUT_S)
        return bool(getattr(answer, id_field) == getattr(request, id_field))

    return call


def _call_until(call: Callable[[], bool], warm_end: float, end: float, out: LoadResult) -> None:
    """Counts the calls that complete between warm_end and end, and every error."""
    while (start := time.monotonic()) < end:
        try:
            ok, code = call(), "WRONG_ANSWER"
        except grpc.RpcError as err:
            ok, code = False, str(err.code().name)
        done = time.monotonic()
        if not ok:  # an error counts whenever it happens, warm-up included
            out.errors += 1
            out.error_codes[code] = out.error_codes.get(code, 0) + 1
        elif warm_end <= done <= end:
            out.calls += 1
            out.latencies_ms.append((done - start) * 1000)
