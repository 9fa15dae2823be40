"""`ticketrouter health`: the container's HEALTHCHECK, asking the process's own gRPC
health service (plaintext on loopback; with TLS on, use the orchestrator's gRPC probe).
"""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

_WILDCARDS = ("", "0.0.0.0", "[::]", "::")


def check_health(address: str, timeout: float = 3.0) -> int:
    """0 when the whole server is SERVING; 1 otherwise, saying why."""
    host, _, port = address.rpartition(":")
    target = f"{'127.0.0.1' if host in _WILDCARDS else host}:{port}"
    with grpc.insecure_channel(target) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
        except grpc.RpcError as err:
            print(f"health {target}: {err.code().name}", file=sys.stderr)  # type: ignore[attr-defined]
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(f"health {target}: {status}")
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1
