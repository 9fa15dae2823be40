"""The service's gRPC server, in-process from the real factory, on a fresh SQLite file
with seeded agents and cases created through `RoutingService.SubmitContact`."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc

from ticketrouter.adapters.codec import parse_event
from ticketrouter.bootstrap import bootstrap
from ticketrouter.config import Settings
from ticketrouter.entrypoints.bench.grpc_load import RPC_TIMEOUT_S
from ticketrouter.entrypoints.bench.reporting import BenchFailed, Progress
from ticketrouter.entrypoints.bench.traffic import Traffic, now_ms
from ticketrouter.entrypoints.bench.worker_rig import SEEDED_AGENTS, seed_agents
from ticketrouter.entrypoints.grpc_server import create_server, stop_gracefully
from ticketrouter.v1 import routing_pb2, routing_pb2_grpc

SUBMITS_PER_CASE = 5  # give up if distinct cases come this slowly: follow-ups rejoin cases


@dataclass
class GrpcRig:
    """A started server on 127.0.0.1:port and everything to close."""

    target: str
    stack: ExitStack

    @classmethod
    def start(cls, settings: Settings, db: Path) -> GrpcRig:
        stack = ExitStack()
        try:
            app = bootstrap(settings.with_overrides(database_url=f"sqlite:///{db}"))
            stack.callback(app.close)
            seed_agents(app, SEEDED_AGENTS)
            server, port, health_servicer = create_server(app, "127.0.0.1:0")
            server.start()
            stack.callback(stop_gracefully, server, health_servicer, 1.0)
        except BaseException:
            stack.close()
            raise
        return cls(f"127.0.0.1:{port}", stack)

    def close(self) -> None:
        self.stack.close()


def submit_cases(target: str, cases: int) -> dict[str, str]:
    """SubmitContact over gRPC until `cases` distinct cases exist; returns their ids,
    each with its customer's.

    Customers come back on other channels as in the Kafka stages, so some cases
    hold several contacts: GetCase then reads rows of realistic shape.
    """
    traffic = Traffic(customers=cases * 2, seed=13)
    progress = Progress("cases", cases)
    case_ids: dict[str, str] = {}  # ordered, for a reproducible list
    with grpc.insecure_channel(target) as channel:
        routing = routing_pb2_grpc.RoutingServiceStub(channel)  # type: ignore[no-untyped-call]
        for _ in range(cases * SUBMITS_PER_CASE):
            if len(case_ids) >= cases:
                break
            event = parse_event(traffic.next_event(now_ms())[2])
            request = routing_pb2.SubmitContactRequest(event=event)
            response: routing_pb2.SubmitContactResponse = routing.SubmitContact(
                request, timeout=RPC_TIMEOUT_S
            )
            if response.case.case_id:
                case_ids[response.case.case_id] = response.case.customer_id
            progress.update(len(case_ids))
    progress.update(len(case_ids), final=True)
    if len(case_ids) < cases:
        raise BenchFailed(f"SubmitContact created {len(case_ids):,} of {cases:,} cases")
    return case_ids
