"""The desks of the streams stage: one `WatchAssignments` stream per agent, held open
by a process of its own on asyncio (grpc.aio), several streams to a channel.

A thread per stream would cost the load generator more than the server it measures:
here an idle stream is a task waiting on its call, and each assignment costs one
wake-up and a note of the wall-clock time it arrived (the machine's clock, the one
the worker's relay stamps its records with).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

import grpc

from ticketrouter.v1 import routing_pb2, routing_pb2_grpc

STREAMS_PER_CHANNEL = 100
OPEN_TIMEOUT_S = 60.0
# Each channel its own connection: grpc shares one between channels to one target.
CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)


@dataclass(frozen=True)
class DeskPlan:
    target: str
    token: str  # a platform token, as a desk would carry
    agent_ids: tuple[str, ...]


@dataclass
class DeskReport:
    """What the desks held and received, sent back once they are told to stop."""

    opened: int = 0  # streams whose headers came: subscribed
    held: int = 0  # of those, still open when told to stop
    ended: dict[str, int] = field(default_factory=dict)  # status code -> streams
    # (agent_id, decision_id, wall-clock ms at arrival), in arrival order
    arrivals: list[tuple[str, str, float]] = field(default_factory=list)
    cpu_s: float = 0.0


def desk_process(
    plan: DeskPlan,
    opened: Queue[int],
    delivered: Synchronized[int],
    stop: Event,
    reports: Queue[DeskReport],
) -> None:
    """Child process: open every desk, say how many opened, read until `stop`, report."""
    cpu_start = time.process_time()
    report = asyncio.run(_desks(plan, opened, delivered, stop))
    report.cpu_s = time.process_time() - cpu_start
    reports.put(report)


async def _desks(
    plan: DeskPlan, opened: Queue[int], delivered: Synchronized[int], stop: Event
) -> DeskReport:
    report = DeskReport()
    metadata = (("authorization", f"Bearer {plan.token}"),)
    count = -(-len(plan.agent_ids) // STREAMS_PER_CHANNEL)
    channels = [
        grpc.aio.insecure_channel(plan.target, options=CHANNEL_OPTIONS) for _ in range(count)
    ]
    calls: list[Any] = []
    for number, agent_id in enumerate(plan.agent_ids):
        stub = routing_pb2_grpc.RoutingServiceStub(channels[number // STREAMS_PER_CHANNEL])  # type: ignore[no-untyped-call]
        request = routing_pb2.WatchAssignmentsRequest(agent_id=agent_id)
        calls.append(stub.WatchAssignments(request, metadata=metadata))
    # The server sends a stream's headers once it is subscribed.
    headers = await asyncio.wait_for(
        asyncio.gather(*(call.initial_metadata() for call in calls), return_exceptions=True),
        OPEN_TIMEOUT_S,
    )
    report.opened = sum(not isinstance(h, BaseException) for h in headers)
    readers = [
        asyncio.create_task(_read(call, agent_id, report, delivered))
        for call, agent_id in zip(calls, plan.agent_ids, strict=True)
    ]
    opened.put(report.opened)
    while not stop.is_set():
        await asyncio.sleep(0.05)
    report.held = sum(not task.done() for task in readers)
    for call in calls:
        call.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for channel in channels:
        await channel.close()
    return report


async def _read(call: Any, agent_id: str, report: DeskReport, delivered: Synchronized[int]) -> None:
    try:
        async for assignment in call:
            decision = assignment.decision
            arrived_ms = time.time() * 1000
            report.arrivals.append((agent_id, decision.decision_id, arrived_ms))
            with delivered.get_lock():
                delivered.value += 1
    except grpc.aio.AioRpcError as err:
        if err.code() is not grpc.StatusCode.CANCELLED:
            name = err.code().name
            report.ended[name] = report.ended.get(name, 0) + 1
    except asyncio.CancelledError:
        pass
