"""Method handlers on the asyncio server: wrapping them in interceptors, and running
the servicers' blocking database work off the event loop.

Every behaviour an interceptor sees is asynchronous: a coroutine function (a unary
answer, or a stream written with `context.write`, as the stock health Watch does) or
an async generator function (our streams, server reflection). Servicer methods that
read or write the database stay synchronous and run on a bounded thread pool, so
the loop keeps answering health checks and feeding desk streams while they wait.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager
from typing import Any, ParamSpec, TypeVar

import grpc

from ticketrouter.adapters.grpc_errors import Abort, as_abort

P = ParamSpec("P")
T = TypeVar("T")
Behavior = Callable[..., Any]
Scope = Callable[[Any, grpc.aio.ServicerContext], AbstractAsyncContextManager[None]]


def behavior_of(handler: grpc.RpcMethodHandler) -> Behavior:
    behavior: Behavior = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    return behavior


def handler_like(
    handler: grpc.RpcMethodHandler | None,
    behavior: Behavior,
    serializers: bool = True,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Any:
    """A method handler of the same kind (unary/streaming) as `handler`."""
    request_streaming = bool(handler and handler.request_streaming)
    response_streaming = bool(handler and handler.response_streaming)
    factory = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(request_streaming, response_streaming)]
    if handler is None or not serializers:
        return factory(behavior)
    return factory(
        behavior,
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def within(behavior: Behavior, scope: Scope) -> Behavior:
    """`behavior` run inside `scope(request, context)`, whichever of the two
    asynchronous shapes it has (the server tells them apart by inspection)."""
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async with scope(request, context):
                async for response in behavior(request, context):
                    yield response

        return stream

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with scope(request, context):
            return await behavior(request, context)

    return call


class BlockingCalls:
    """The pool where database work runs, and a bound on the calls holding or
    waiting for one of its threads: beyond it a call is refused at once with
    RESOURCE_EXHAUSTED, instead of queueing without bound behind a slow database."""

    def __init__(self, executor: Executor, limit: int) -> None:
        self._executor = executor
        self._limit = limit
        self._in_flight = 0

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`function` on the pool, seeing the caller's context variables (its role)."""
        if self._in_flight >= self._limit:
            raise Abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the server is busy ({self._limit} calls wait for the database); "
                "retry with backoff",
            )
        return await self.run_admitted(function, *args, **kwargs)

    async def run_admitted(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`run` for a stream the server admitted already: never refused, since a
        busy moment must not end a desk's stream (streams are bounded apart)."""
        self._in_flight += 1
        context = contextvars.copy_context()
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(context.run, function, *args, **kwargs)
        )
        # Released when the thread is done, not when a cancelled caller stops waiting:
        # the thread stays busy until then.
        future.add_done_callback(self._release)
        return await future

    def _release(self, _future: object) -> None:
        self._in_flight -= 1

    def offloaded(self, servicer: object) -> Any:
        """`servicer` with each synchronous method run on the pool; its asynchronous
        methods (streams) are passed through as they are."""
        return _Offloaded(servicer, self)


class _Offloaded:
    def __init__(self, servicer: object, calls: BlockingCalls) -> None:
        self._servicer = servicer
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._servicer, name)
        if inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method):
            return method
        calls = self._calls

        @functools.wraps(method)
        async def offloaded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await calls.run(method, request, context)
            except Exception as err:  # an Abort from grpc_errors, or a bug: never UNKNOWN
                abort = as_abort(err, name)
                await context.abort(abort.code, abort.details)

        return offloaded
