"""The gRPC server factory: bind port 0 in tests, stop gracefully in production.

An asyncio server (grpc.aio). Production hardening lives here: bearer-token roles
(adapters/grpc_auth.py), optional TLS or mutual TLS, message size limits, keepalive
enforcement, bounds on the calls waiting for the database and on the streams
callers without a token may hold.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ticketrouter.adapters.grpc_agents import AgentServicer
from ticketrouter.adapters.grpc_auth import OpenStreams, TokenAuthInterceptor, TokenTable
from ticketrouter.adapters.grpc_config import RoutingConfigServicer
from ticketrouter.adapters.grpc_customers import CustomerServicer
from ticketrouter.adapters.grpc_handlers import BlockingCalls
from ticketrouter.adapters.grpc_health import HealthBoard, ListingHealthServicer
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
T = TypeVar("T")

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Threads for the servicers' database work (the event loop does everything else).
DATABASE_THREADS = 16
# Beyond this many calls running or waiting for a database thread, the next is
# answered RESOURCE_EXHAUSTED at once, instead of queueing without bound.
MAX_BLOCKING_CALLS = 64
# Calls and streams in progress: room for the 1,000 desk streams a server is sized
# for, beside the calls; beyond it the server answers RESOURCE_EXHAUSTED.
MAX_CONCURRENT_RPCS = 2048
# Health watches and reflection streams of callers without a valid token.
MAX_OPEN_STREAMS_WITHOUT_TOKEN = 8
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
    # with nobody at the other end) is noticed and its stream ended.
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


class GrpcServer:
    """A grpc.aio server on an event loop of its own thread, driven from the
    synchronous rest of the process (the runtime, tests, the bench).

    Calls and streams are tasks on the loop; the servicers' database work runs on a
    bounded pool of threads, so a slow query or a thousand idle desk streams never
    keep a health check waiting.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self._loop = loop
        self._thread = thread
        self._server: grpc.aio.Server | None = None
        self._executor: futures.ThreadPoolExecutor | None = None
        self._stopped = threading.Event()

    def on_loop(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def start(self) -> None:
        assert self._server is not None
        self.on_loop(self._server.start())

    def stop(self, grace: float | None) -> threading.Event:
        """Refuse new calls, give those in flight `grace` seconds (None: none), then
        end the loop; returns the event that is set once it has ended, as
        grpc.Server.stop does."""
        if not self._stopped.is_set():
            try:
                if self._server is not None:
                    self.on_loop(self._server.stop(grace))
            finally:
                self._close()
        return self._stopped

    def _close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        if self._executor is not None:
            # A call stuck on a locked database must not hold the stop: its thread
            # ends on its own, its client has had its answer (CANCELLED) already.
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._stopped.set()


def create_server(
    app: App,
    address: str,
    max_workers: int = DATABASE_THREADS,
    security: ServerSecurity | None = None,
    max_concurrent_rpcs: int = MAX_CONCURRENT_RPCS,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    max_open_streams: int = MAX_OPEN_STREAMS_WITHOUT_TOKEN,
    max_blocking_calls: int = MAX_BLOCKING_CALLS,
) -> tuple[GrpcServer, int, HealthBoard]:
    """A server with every service registered and bound to `address` (port 0 picks
    a free one), not yet started. `interceptors` run after authentication."""
    security = security or ServerSecurity()
    credentials = security.credentials()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="grpc-loop", daemon=True)
    thread.start()
    server = GrpcServer(loop, thread)
    try:
        port, health_board = server.on_loop(
            _build(
                server,
                app,
                address,
                credentials,
                security,
                max_workers,
                max_concurrent_rpcs,
                interceptors,
                max_open_streams,
                max_blocking_calls,
            )
        )
    except BaseException:
        server.stop(None)
        raise
    log.info(
        "gRPC server bound",
        extra={
            "port": port,
            "tls": "off" if credentials is None else "mutual" if security.tls_client_ca else "on",
            "auth": "tokens" if security.tokens.enabled else "off",
        },
    )
    return server, port, health_board


async def _build(
    handle: GrpcServer,
    app: App,
    address: str,
    credentials: grpc.ServerCredentials | None,
    security: ServerSecurity,
    max_workers: int,
    max_concurrent_rpcs: int,
    interceptors: Sequence[grpc.aio.ServerInterceptor],
    max_open_streams: int,
    max_blocking_calls: int,
) -> tuple[int, HealthBoard]:
    """On the server's loop, where grpc.aio wants its server made."""
    if not security.tokens.enabled:
        log.warning(
            "gRPC authentication is off: every caller may call every method; set "
            "TICKETROUTER_PLATFORM_TOKENS and TICKETROUTER_ADMIN_TOKENS to turn it on"
        )
    elif credentials is None:
        log.warning("gRPC tokens travel in plaintext: terminate TLS here or in front")
    chain: list[grpc.aio.ServerInterceptor] = [
        TokenAuthInterceptor(security.tokens, OpenStreams(max_open_streams)),
        # After authentication: a refused call is never parsed at all.
        ParseRequestsInterceptor(),
        *interceptors,
    ]
    executor = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc-db")
    handle._executor = executor
    blocking = BlockingCalls(executor, max_blocking_calls)
    server = grpc.aio.server(
        interceptors=chain,
        options=list(SERVER_OPTIONS),
        maximum_concurrent_rpcs=max_concurrent_rpcs,
    )
    handle._server = server
    routing_pb2_grpc.add_RoutingServiceServicer_to_server(
        blocking.offloaded(RoutingServicer(app, blocking)), server
    )
    agents_pb2_grpc.add_AgentServiceServicer_to_server(
        blocking.offloaded(AgentServicer(app)), server
    )
    customers_pb2_grpc.add_CustomerServiceServicer_to_server(
        blocking.offloaded(CustomerServicer(app)), server
    )
    config_pb2_grpc.add_RoutingConfigServiceServicer_to_server(
        blocking.offloaded(RoutingConfigServicer(app)), server
    )
    health_servicer = ListingHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        raise RuntimeError(f"could not bind gRPC server to {address}")
    return port, HealthBoard(health_servicer, asyncio.get_running_loop())


# Health of the Kafka worker in this process, apart from the gRPC services: a stalled
# worker turns it and the server's overall status ("") NOT_SERVING.
WORKER_HEALTH_SERVICE = "ticketrouter.worker"


def set_worker_health(health_board: HealthBoard, serving: bool) -> None:
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ("", WORKER_HEALTH_SERVICE):
        health_board.set(name, status)


def announce_shutdown(health_board: HealthBoard) -> None:
    """Every service reports NOT_SERVING from now on, so load balancers drain."""
    health_board.enter_graceful_shutdown()


def stop_gracefully(
    server: GrpcServer, health_board: HealthBoard, grace: float = GRACE_SECONDS
) -> None:
    """Announce NOT_SERVING first, then refuse new calls and give the calls in
    flight `grace` seconds to finish before cancelling them."""
    announce_shutdown(health_board)
    server.stop(grace).wait()
