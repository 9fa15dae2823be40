"""The gRPC server factory: bind port 0 in tests, stop gracefully in production."""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ticketrouter.adapters.grpc_agents import AgentServicer
from ticketrouter.adapters.grpc_config import RoutingConfigServicer
from ticketrouter.adapters.grpc_customers import CustomerServicer
from ticketrouter.adapters.grpc_routing import RoutingServicer
from ticketrouter.bootstrap import App
from ticketrouter.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    config_pb2,
    config_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    routing_pb2,
    routing_pb2_grpc,
)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SERVICE_NAMES = (
    routing_pb2.DESCRIPTOR.services_by_name["RoutingService"].full_name,
    agents_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    customers_pb2.DESCRIPTOR.services_by_name["CustomerService"].full_name,
    config_pb2.DESCRIPTOR.services_by_name["RoutingConfigService"].full_name,
)


def create_server(
    app: App, address: str, max_workers: int = 16
) -> tuple[grpc.Server, int, health.HealthServicer]:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ],
    )
    routing_pb2_grpc.add_RoutingServiceServicer_to_server(RoutingServicer(app), server)
    agents_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(app), server)
    customers_pb2_grpc.add_CustomerServiceServicer_to_server(CustomerServicer(app), server)
    config_pb2_grpc.add_RoutingConfigServiceServicer_to_server(RoutingConfigServicer(app), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind gRPC server to {address}")
    return server, port, health_servicer


def stop_gracefully(
    server: grpc.Server, health_servicer: health.HealthServicer, grace: float = 5.0
) -> None:
    """Announce NOT_SERVING first so load balancers drain, then finish in-flight calls."""
    health_servicer.enter_graceful_shutdown()
    server.stop(grace).wait()
