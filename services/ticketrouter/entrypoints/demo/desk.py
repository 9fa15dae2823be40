"""The demo agents at their desk. Each assignment is worked for a few seconds, then
closed by `CaseWork`; one scheduler thread and a heap, whatever the load."""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from ticketrouter.entrypoints.demo.casework import CaseWork
from ticketrouter.entrypoints.demo.console import Directory
from ticketrouter.entrypoints.demo.stats import Stats
from ticketrouter.entrypoints.demo.stubs import RPC_TIMEOUT_S, RoutingStub

log = logging.getLogger(__name__)

HANDLING_TIME_S = (1.0, 6.0)
# The case has moved on meanwhile (resolved, transferred, reopened elsewhere): not an error.
QUIET_CODES = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)


@dataclass(order=True, frozen=True, slots=True)
class Job:
    due: float
    token: int
    case_id: str = field(compare=False)
    agent_id: str = field(compare=False)
    topic: str = field(compare=False)


class CaseSchedule:
    """When each case the router gave a demo agent will be closed: one job per case, a
    newer assignment of the same case superseding the one before. Time is passed in,
    so the desk runs it on the wall clock and a test on a virtual one."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._heap: list[Job] = []
        # case id -> the one job that will close it; a newer assignment supersedes it.
        self._holding: dict[str, Job] = {}
        self._tokens = itertools.count(1)

    def take(
        self, case_id: str, agent_id: str, topic: str, now: float, confirmed: bool = False
    ) -> bool:
        """Schedule work on a case the router gave `agent_id`; returns whether it is new.

        `confirmed`: the router only confirmed an existing owner (a follow-up that
        rejoined the case), so an agent already working on it just carries on.
        """
        held = self._holding.get(case_id)
        if confirmed and held is not None and held.agent_id == agent_id:
            return False
        job = Job(
            now + self._rng.uniform(*HANDLING_TIME_S), next(self._tokens), case_id, agent_id, topic
        )
        self._holding[case_id] = job
        heapq.heappush(self._heap, job)
        return True

    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def pop_due(self, now: float) -> Job | None:
        """The next job due by `now` that is still current (superseded ones are dropped)."""
        while self._heap and self._heap[0].due <= now:
            job = heapq.heappop(self._heap)
            if self._holding.get(job.case_id) is job:
                return job
        return None

    def done(self, job: Job) -> None:
        if self._holding.get(job.case_id) is job:
            del self._holding[job.case_id]


class AgentDesk:
    """Works the schedule on the wall clock: one thread closes each case when due."""

    def __init__(
        self, routing: RoutingStub, stats: Stats, directory: Directory, rng: random.Random
    ) -> None:
        self._casework = CaseWork(routing, stats, directory, rng)
        self._schedule = CaseSchedule(rng)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-agents", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=RPC_TIMEOUT_S + 1)

    def take(self, case_id: str, agent_id: str, topic: str, confirmed: bool = False) -> bool:
        """See CaseSchedule.take."""
        with self._cond:
            taken = self._schedule.take(case_id, agent_id, topic, time.monotonic(), confirmed)
            self._cond.notify()
            return taken

    def _run(self) -> None:
        while (job := self._next_due()) is not None:
            try:
                work(self._casework, job, self._stop.is_set)
            finally:
                with self._cond:
                    self._schedule.done(job)

    def _next_due(self) -> Job | None:
        with self._cond:
            while not self._stop.is_set():
                job = self._schedule.pop_due(time.monotonic())
                if job is not None:
                    return job
                due = self._schedule.next_due()
                self._cond.wait(timeout=1.0 if due is None else max(0.0, due - time.monotonic()))
            return None


def work(casework: CaseWork, job: Job, stopping: Callable[[], bool]) -> None:
    """Close one case; an RPC error that only says the case moved on is not a failure."""
    try:
        casework.finish(job.case_id, job.agent_id, job.topic)
    except grpc.RpcError as err:
        if err.code() in QUIET_CODES:
            log.debug("case moved on", extra={"case": job.case_id, "code": str(err.code())})
        elif not stopping():
            log.warning(
                "agent action failed",
                extra={
                    "agent": job.agent_id,
                    "case": job.case_id,
                    "code": str(err.code()),
                    "detail": err.details(),
                },
            )
