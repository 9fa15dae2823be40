"""Standard gRPC health checking, with the List method the stock servicer lacks.

grpcio-health-checking serves Check and Watch; its List (in the proto, so listed
by reflection) answers UNIMPLEMENTED and logs a NotImplementedError traceback.
This servicer keeps its own copy of every status it is given and lists them.
"""

from __future__ import annotations

import threading
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2


class ListingHealthServicer(health.HealthServicer):  # type: ignore[misc]
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._listed_lock = threading.Lock()
        self._listed: dict[str, int] = {"": health_pb2.HealthCheckResponse.SERVING}
        self._draining = False

    def set(self, service: str, status: int) -> None:
        with self._listed_lock:
            # Once draining, every status stays NOT_SERVING, as Check answers.
            if not self._draining:
                self._listed[service] = status
        super().set(service, status)

    def enter_graceful_shutdown(self) -> None:
        with self._listed_lock:
            self._draining = True
            for service in self._listed:
                self._listed[service] = health_pb2.HealthCheckResponse.NOT_SERVING
        super().enter_graceful_shutdown()

    def List(
        self, request: health_pb2.HealthListRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthListResponse:
        with self._listed_lock:
            statuses = dict(self._listed)
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)  # type: ignore[arg-type]
                for name, status in statuses.items()
            }
        )
