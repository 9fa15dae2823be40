"""The gRPC server factory: bind port 0 in tests, stop gracefully in production.

Production hardening lives here: bearer-token roles (adapters/grpc_auth.py),
optional TLS or mutual TLS, message size limits, keepalive enforcement and a bound
on concurrent calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ticketrouter.adapters.grpc_agents import AgentServicer
from ticketrouter.adapters.grpc_auth import TokenAuthInterceptor, TokenTable
from ticketrouter.adapters.grpc_config import RoutingConfigServicer
from ticketrouter.adapters.grpc_customers import CustomerServicer
from ticketrouter.adapters.grpc_health import ListingHealthServicer
from ticketrouter.adapters.grpc_requests import ParseRequestsInterceptor
from ticketrouter.adapters.grpc_routing import RoutingServicer
from ticketrouter.bootstrap import App
from ticketrouter.config import Settings
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

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Beyond this many calls in progress (running or waiting for a worker thread) the
# server answers RESOURCE_EXHAUSTED at once, instead of queueing without bound.
MAX_CONCURRENT_RPCS = 64
GRACE_SECONDS = 5.0
SERVICE_NAMES = (
    routing_pb2.DESCRIPTOR.services_by_name["RoutingService"].full_name,
    agents_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    customers_pb2.DESCRIPTOR.services_by_name["CustomerService"].full_name,
    config_pb2.DESCRIPTOR.services_by_name["RoutingConfigService"].full_name,
)

SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Ping idle connections so a desktop that vanished (a WatchAssignments stream
    # with nobody at the other end) is noticed and its thread released.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # A quiet watch stream carries no data for minutes: keep pinging it anyway.
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    # Enforcement: a client pinging more often than every 10 s gets strikes, and
    # after two a GOAWAY, so clients cannot flood the server with pings.
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 2),
    # A second server on the same port must fail to bind, not silently share it.
    ("grpc.so_reuseport", 0),
)


@dataclass(frozen=True)
class ServerSecurity:
    """Who may call and over what. The default (no tokens, no TLS) is the demo's."""

    tokens: TokenTable = field(default_factory=TokenTable)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerSecurity:
        return cls(
            TokenTable(settings.platform_tokens, settings.admin_tokens),
            settings.grpc_tls_cert,
            settings.grpc_tls_key,
            settings.grpc_tls_client_ca,
        )

    def credentials(self) -> grpc.ServerCredentials | None:
        """TLS credentials, or None for plaintext."""
        if self.tls_cert is None and self.tls_key is None:
            if self.tls_client_ca is not None:
                raise ValueError("a TLS client CA needs a server certificate and key")
            return None
        if self.tls_cert is None or self.tls_key is None:
            raise ValueError("TLS needs both a server certificate and its key")
        client_ca = self.tls_client_ca.read_bytes() if self.tls_client_ca else None
        return grpc.ssl_server_credentials(
            [(self.tls_key.read_bytes(), self.tls_cert.read_bytes())],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )


def create_server(
    app: App,
    address: str,
    max_workers: int = 16,
    security: ServerSecurity | None = None,
    max_concurrent_rpcs: int = MAX_CONCURRENT_RPCS,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A server with every service registered and bound to `address` (port 0 picks
    a free one), not yet started. `interceptors` run after authentication."""
    security = security or ServerSecurity()
    chain: list[grpc.ServerInterceptor] = []
    if security.tokens.enabled:
        chain.append(TokenAuthInterceptor(security.tokens))
    else:
        log.warning(
            "gRPC authentication is off: every caller may call every method; set "
            "TICKETROUTER_PLATFORM_TOKENS and TICKETROUTER_ADMIN_TOKENS to turn it on"
        )
    # After authentication: a refused call is never parsed at all.
    chain.append(ParseRequestsInterceptor())
    chain.extend(interceptors)
    credentials = security.credentials()
    if security.tokens.enabled and credentials is None:
        log.warning("gRPC tokens travel in plaintext: terminate TLS here or in front")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=chain,
        options=list(SERVER_OPTIONS),
        maximum_concurrent_rpcs=max_concurrent_rpcs,
    )
    routing_pb2_grpc.add_RoutingServiceServicer_to_server(RoutingServicer(app), server)
    agents_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(app), server)
    customers_pb2_grpc.add_CustomerServiceServicer_to_server(CustomerServicer(app), server)
    config_pb2_grpc.add_RoutingConfigServiceServicer_to_server(RoutingConfigServicer(app), server)
    health_servicer = ListingHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise RuntimeError(f"could not bind gRPC server to {address}")
    log.info(
        "gRPC server bound",
        extra={
            "port": port,
            "tls": "off" if credentials is None else "mutual" if security.tls_client_ca else "on",
            "auth": "tokens" if security.tokens.enabled else "off",
        },
    )
    return server, port, health_servicer


# Health of the Kafka worker in this process, apart from the gRPC services: a stalled
# worker turns it and the server's overall status ("") NOT_SERVING.
WORKER_HEALTH_SERVICE = "ticketrouter.worker"


def set_worker_health(health_servicer: health.HealthServicer, serving: bool) -> None:
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ("", WORKER_HEALTH_SERVICE):
        health_servicer.set(name, status)


def announce_shutdown(health_servicer: health.HealthServicer) -> None:
    """Every service reports NOT_SERVING from now on, so load balancers drain."""
    health_servicer.enter_graceful_shutdown()


def stop_gracefully(
    server: grpc.Server, health_servicer: health.HealthServicer, grace: float = GRACE_SECONDS
) -> None:
    """Announce NOT_SERVING first, then refuse new calls and give the calls in
    flight `grace` seconds to finish before cancelling them."""
    announce_shutdown(health_servicer)
    server.stop(grace).wait()
