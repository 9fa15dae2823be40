"""The demo agents at their desk. Each assignment is worked for a few seconds, then
closed by `CaseWork`; one scheduler thread and a heap, whatever the load."""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
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
class _Job:
    due: float
    token: int
    case_id: str = field(compare=False)
    agent_id: str = field(compare=False)
    topic: str = field(compare=False)


class AgentDesk:
    """Schedules the work on each case the router gives a demo agent; a newer
    assignment of the same case supersedes the one before."""

    def __init__(
        self, routing: RoutingStub, stats: Stats, directory: Directory, rng: random.Random
    ) -> None:
        self._casework = CaseWork(routing, stats, directory, rng)
        self._rng = rng
        self._cond = threading.Condition()
        self._heap: list[_Job] = []
        # case id -> the one job that will close it; a newer assignment supersedes it.
        self._holding: dict[str, _Job] = {}
        self._tokens = itertools.count(1)
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
        """Schedule work on a case the router gave `agent_id`; returns whether it is new.

        `confirmed`: the router only confirmed an existing owner (a follow-up that
        rejoined the case), so an agent already working on it just carries on.
        """
        with self._cond:
            held = self._holding.get(case_id)
            if confirmed and held is not None and held.agent_id == agent_id:
                return False
            job = _Job(
                time.monotonic() + self._rng.uniform(*HANDLING_TIME_S),
                next(self._tokens),
                case_id,
                agent_id,
                topic,
            )
            self._holding[case_id] = job
            heapq.heappush(self._heap, job)
            self._cond.notify()
            return True

    def _run(self) -> None:
        while (job := self._next_due()) is not None:
            if self._is_current(job):
                self._work(job)

    def _next_due(self) -> _Job | None:
        with self._cond:
            while not self._stop.is_set():
                wait = self._heap[0].due - time.monotonic() if self._heap else 1.0
                if self._heap and wait <= 0:
                    return heapq.heappop(self._heap)
                self._cond.wait(timeout=wait)
            return None

    def _is_current(self, job: _Job) -> bool:
        with self._cond:
            return self._holding.get(job.case_id) is job

    def _work(self, job: _Job) -> None:
        try:
            self._casework.finish(job.case_id, job.agent_id, job.topic)
        except grpc.RpcError as err:
            if err.code() in QUIET_CODES:
                log.debug("case moved on", extra={"case": job.case_id, "code": str(err.code())})
            elif not self._stop.is_set():
                log.warning(
                    "agent action failed",
                    extra={
                        "agent": job.agent_id,
                        "case": job.case_id,
                        "code": str(err.code()),
                        "detail": err.details(),
                    },
                )
        finally:
            with self._cond:
                if self._holding.get(job.case_id) is job:
                    del self._holding[job.case_id]
