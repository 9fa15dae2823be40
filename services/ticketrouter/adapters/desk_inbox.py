"""The bounded buffer between the feed and one desk's stream.

Decisions arrive from any thread and are read on the server's event loop. A desk
that reads slower than decisions arrive for it fills the buffer; the stream then
ends with RESOURCE_EXHAUSTED rather than holding memory without bound or dropping
assignments without a word (the desk reconnects and reads the current state).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib

import grpc

from ticketrouter.adapters.grpc_errors import Abort
from ticketrouter.v1.events_pb2 import RoutingDecision

DESK_BUFFER = 1000


class DeskInbox:
    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int = DESK_BUFFER) -> None:
        self._loop = loop
        self._capacity = capacity
        self._waiting: collections.deque[RoutingDecision] = collections.deque()
        self._arrived = asyncio.Event()
        self._closing = False
        self._overflowed = False

    def deliver(self, decision: RoutingDecision | None) -> None:
        """From any thread; None: the server is stopping."""
        # A loop that closed has no stream left to feed.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._put, decision)

    def _put(self, decision: RoutingDecision | None) -> None:
        if decision is None:
            self._closing = True
        elif len(self._waiting) >= self._capacity:
            self._overflowed = True
        else:
            self._waiting.append(decision)
        self._arrived.set()

    async def next(self) -> RoutingDecision:
        """The next decision, or an Abort ending the stream."""
        while True:
            if self._closing:
                raise Abort(
                    grpc.StatusCode.UNAVAILABLE,
                    "the server is shutting down; reconnect (another replica serves you)",
                )
            if self._overflowed:
                raise Abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"this desk fell {self._capacity} assignments behind; read faster "
                    "and reconnect",
                )
            if self._waiting:
                return self._waiting.popleft()
            self._arrived.clear()
            await self._arrived.wait()
