"""Standard gRPC health checking, with the List method the stock servicer lacks.

grpcio-health-checking serves Check and Watch; its List (in the proto, so listed
by reflection) answers UNIMPLEMENTED and logs a NotImplementedError traceback.
This servicer keeps its own copy of every status it is given and lists them.

It is the asyncio servicer: checks are answered on the event loop, never waiting
for a thread, and a Watch costs no thread while it waits. `HealthBoard` sets the
statuses from the threads of the process (the worker's watchdog, the stop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import grpc
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health_pb2

# A status change waits this long at most for the loop (it never waits for
# anything else, so only a dead loop makes it time out).
SET_TIMEOUT_S = 10.0


class ListingHealthServicer(health_async.HealthServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self._listed: dict[str, int] = {"": health_pb2.HealthCheckResponse.SERVING}
        self._draining = False

    async def set(self, service: str, status: int) -> None:
        # Once draining, every status stays NOT_SERVING, as Check answers.
        if not self._draining:
            self._listed[service] = status
        await super().set(service, status)

    async def enter_graceful_shutdown(self) -> None:
        self._draining = True
        for service in self._listed:
            self._listed[service] = health_pb2.HealthCheckResponse.NOT_SERVING
        await super().enter_graceful_shutdown()

    async def List(
        self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthListResponse:
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)  # type: ignore[arg-type]
                for name, status in self._listed.items()
            }
        )


class HealthBoard:
    """The health servicer, driven from any thread but the server's loop."""

    def __init__(self, servicer: ListingHealthServicer, loop: asyncio.AbstractEventLoop) -> None:
        self.servicer = servicer
        self._loop = loop

    def set(self, service: str, status: int) -> None:
        self._on_loop(self.servicer.set(service, status))

    def enter_graceful_shutdown(self) -> None:
        """Every service reports NOT_SERVING from now on, Watch streams included."""
        self._on_loop(self.servicer.enter_graceful_shutdown())

    def _on_loop(self, change: Coroutine[Any, Any, None]) -> None:
        if self._loop.is_closed():
            change.close()  # the server has stopped: nobody is left to tell
            return
        asyncio.run_coroutine_threadsafe(change, self._loop).result(SET_TIMEOUT_S)
