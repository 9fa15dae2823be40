"""Requests that do not parse get INVALID_ARGUMENT, not INTERNAL and a traceback.

grpcio deserialises a request before any servicer code runs; when that fails
(invalid UTF-8 in a string field, truncated bytes, a Struct nested deeper than the
parser allows) it logs "Exception deserializing message!" with a traceback and
answers INTERNAL. This interceptor wraps each method's deserialiser so a message
that does not parse becomes a marker, and the method answers INVALID_ARGUMENT
naming the request type instead.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from ticketrouter.adapters.grpc_handlers import Behavior, behavior_of, handler_like, within
from ticketrouter.adapters.log_limits import LimitedLog

log = logging.getLogger(__name__)

Deserializer = Callable[[bytes], Any]


class Unparsable:
    """What a request that failed to parse is replaced with."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def safe_deserializer(deserialize: Deserializer, method: str, limited: LimitedLog) -> Deserializer:
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except (DecodeError, RecursionError, ValueError, UnicodeDecodeError) as err:
            limited.log(
                logging.INFO,
                "unparsable",
                "gRPC request does not parse",
                {"method": method[:200], "bytes": len(data), "error": str(err)[:200]},
            )
            return Unparsable(str(err)[:200] or type(err).__name__)

    return parse


async def _refuse(context: grpc.aio.ServicerContext, request: Unparsable) -> None:
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"request: not a valid protobuf message of this method's type ({request.reason})",
    )


@contextlib.asynccontextmanager
async def _parsed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
    if isinstance(request, Unparsable):
        await _refuse(context, request)
    yield


def _guarded_requests(behavior: Behavior) -> Behavior:
    """For a method that reads a stream of requests and answers with a stream (server
    reflection, an async generator): a message of the stream that does not parse
    ends the call with INVALID_ARGUMENT."""

    async def checked(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        async def parsed() -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, Unparsable):
                    await _refuse(context, request)
                yield request

        async for response in behavior(parsed(), context):
            yield response

    return checked


class ParseRequestsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Every method: ours take one request, server reflection reads a stream."""

    def __init__(self) -> None:
        self._unparsable = LimitedLog(log)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method: str = handler_call_details.method
        deserializer = safe_deserializer(handler.request_deserializer, method, self._unparsable)
        behavior = behavior_of(handler)
        guarded = (
            _guarded_requests(behavior) if handler.request_streaming else within(behavior, _parsed)
        )
        return handler_like(handler, guarded, request_deserializer=deserializer)
