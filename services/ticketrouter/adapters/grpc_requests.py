"""Requests that do not parse get INVALID_ARGUMENT, not INTERNAL and a traceback.

grpcio deserialises a request before any servicer code runs; when that fails
(invalid UTF-8 in a string field, truncated bytes, a Struct nested deeper than the
parser allows) it logs "Exception deserializing message!" with a traceback and
answers INTERNAL. This interceptor wraps each method's deserialiser so a message
that does not parse becomes a marker, and the method answers INVALID_ARGUMENT
naming the request type instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from ticketrouter.adapters.log_limits import LimitedLog

log = logging.getLogger(__name__)

Deserializer = Callable[[bytes], Any]
Behavior = Callable[[Any, grpc.ServicerContext], Any]


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


def _refuse(context: grpc.ServicerContext, request: Unparsable) -> None:
    context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"request: not a valid protobuf message of this method's type ({request.reason})",
    )


def _guarded(behavior: Behavior, streaming: bool) -> Behavior:
    if not streaming:

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, Unparsable):
                _refuse(context, request)
            return behavior(request, context)

        return unary

    def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if isinstance(request, Unparsable):
            _refuse(context, request)
        yield from behavior(request, context)

    return stream


def _guarded_requests(behavior: Behavior) -> Behavior:
    """For a method that reads a stream of requests (server reflection): a message
    of the stream that does not parse ends the call with INVALID_ARGUMENT."""

    def checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        def parsed() -> Iterator[Any]:
            for request in requests:
                if isinstance(request, Unparsable):
                    _refuse(context, request)
                yield request

        return behavior(parsed(), context)

    return checked


class ParseRequestsInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Every method: ours take one request, server reflection reads a stream."""

    def __init__(self) -> None:
        self._unparsable = LimitedLog(log)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method: str = handler_call_details.method
        deserializer = safe_deserializer(handler.request_deserializer, method, self._unparsable)
        if handler.request_streaming:
            factory = (
                grpc.stream_stream_rpc_method_handler
                if handler.response_streaming
                else grpc.stream_unary_rpc_method_handler
            )
            return factory(
                _guarded_requests(handler.stream_stream or handler.stream_unary),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                _guarded(handler.unary_stream, True),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            _guarded(handler.unary_unary, False),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
