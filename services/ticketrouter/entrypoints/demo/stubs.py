"""Typed views of the generated gRPC stubs (they carry no annotations), so the demo's
calls are checked like any other code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import grpc

from ticketrouter.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    routing_pb2,
    routing_pb2_grpc,
)

RPC_TIMEOUT_S = 5.0


class AssignmentStream(Protocol):
    def __iter__(self) -> Iterator[routing_pb2.Assignment]: ...

    def cancel(self) -> bool: ...


class RoutingStub(Protocol):
    def ListQueue(
        self, request: routing_pb2.ListQueueRequest, timeout: float | None = None
    ) -> routing_pb2.ListQueueResponse: ...

    def ListCases(
        self, request: routing_pb2.ListCasesRequest, timeout: float | None = None
    ) -> routing_pb2.ListCasesResponse: ...

    def Resolve(
        self, request: routing_pb2.ResolveRequest, timeout: float | None = None
    ) -> routing_pb2.Case: ...

    def Transfer(
        self, request: routing_pb2.TransferRequest, timeout: float | None = None
    ) -> routing_pb2.Case: ...

    def WatchAssignments(
        self, request: routing_pb2.WatchAssignmentsRequest
    ) -> AssignmentStream: ...


class AgentStub(Protocol):
    def UpsertAgent(
        self, request: agents_pb2.UpsertAgentRequest, timeout: float | None = None
    ) -> agents_pb2.Agent: ...

    def SetPresence(
        self, request: agents_pb2.SetPresenceRequest, timeout: float | None = None
    ) -> agents_pb2.Agent: ...


class CustomerStub(Protocol):
    def GetCustomer(
        self, request: customers_pb2.GetCustomerRequest, timeout: float | None = None
    ) -> customers_pb2.Customer: ...


def routing_stub(channel: grpc.Channel) -> RoutingStub:
    stub: RoutingStub = routing_pb2_grpc.RoutingServiceStub(channel)  # type: ignore[no-untyped-call]
    return stub


def agent_stub(channel: grpc.Channel) -> AgentStub:
    stub: AgentStub = agents_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
    return stub


def customer_stub(channel: grpc.Channel) -> CustomerStub:
    stub: CustomerStub = customers_pb2_grpc.CustomerServiceStub(channel)  # type: ignore[no-untyped-call]
    return stub


def customer_name(customers: CustomerStub) -> Callable[[str], str | None]:
    """The router's display name for a customer id; None when it has none (or the
    call fails: a line naming "customer" beats a demo that stops)."""

    def lookup(customer_id: str) -> str | None:
        try:
            found = customers.GetCustomer(
                customers_pb2.GetCustomerRequest(customer_id=customer_id, recent_contacts=1),
                timeout=RPC_TIMEOUT_S,
            )
        except grpc.RpcError:
            return None
        return found.display_name or None

    return lookup
