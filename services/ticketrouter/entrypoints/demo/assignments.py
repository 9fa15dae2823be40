"""How the desk learns its work: the live assignment stream, and the open cases the
demo agents already hold."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import grpc

from ticketrouter.entrypoints.demo.desk import AgentDesk
from ticketrouter.entrypoints.demo.stubs import RPC_TIMEOUT_S, AssignmentStream, RoutingStub
from ticketrouter.v1 import routing_pb2

log = logging.getLogger(__name__)

# The most a ListCases page holds; a demo agent's capacity is far below it.
MAX_CASES_PER_AGENT = 1000


class AssignmentWatch:
    """Feeds the desk from RoutingService.WatchAssignments (all agents)."""

    def __init__(self, routing: RoutingStub, desk: AgentDesk) -> None:
        self._routing = routing
        self._desk = desk
        self._lock = threading.Lock()
        self._call: AssignmentStream | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            call = self._routing.WatchAssignments(routing_pb2.WatchAssignmentsRequest())
            with self._lock:
                self._call = call
                if self._stop.is_set():
                    call.cancel()
            try:
                for assignment in call:
                    decision = assignment.decision
                    self._desk.take(
                        decision.case_id,
                        decision.agent_id,
                        decision.topic,
                        confirmed=decision.outcome == "rejoined_case",
                    )
            except grpc.RpcError as err:
                if self._stop.is_set():
                    return
                log.warning(
                    "assignment stream interrupted; reconnecting", extra={"code": str(err.code())}
                )
                self._stop.wait(1.0)


def open_cases_of(routing: RoutingStub, agent_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(case id, agent id, topic) of the cases the demo agents hold, one ListCases per agent.

    Open cases outlive a run (the SQLite file persists), so this picks up work left by
    an earlier run and any assignment the stream missed while it was connecting. An
    agent whose cases cannot be listed now is picked up again at the next summary.
    """
    held: list[tuple[str, str, str]] = []
    for agent_id in agent_ids:
        try:
            response = routing.ListCases(
                routing_pb2.ListCasesRequest(
                    owner_agent_id=agent_id, status="assigned", limit=MAX_CASES_PER_AGENT
                ),
                timeout=RPC_TIMEOUT_S,
            )
        except grpc.RpcError as err:
            log.warning(
                "could not list an agent's open cases",
                extra={"agent": agent_id, "code": str(err.code())},
            )
            continue
        held.extend((case.case_id, agent_id, case.topic) for case in response.cases)
    return held
