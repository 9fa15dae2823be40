"""In-process fan-out of assignments to gRPC watchers (agent desktops)."""

from __future__ import annotations

import contextlib
import queue
import threading

from ticketrouter.domain.decisions import Decision

_MAX_BACKLOG = 1000


class AssignmentFeed:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, tuple[str | None, queue.Queue[Decision]]] = {}
        self._next = 0
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        """The process is stopping: watchers end their streams, and desks reconnect
        (to another replica) instead of holding the shutdown for its whole grace."""
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def subscribe(self, agent_id: str | None) -> tuple[int, queue.Queue[Decision]]:
        inbox: queue.Queue[Decision] = queue.Queue(maxsize=_MAX_BACKLOG)
        with self._lock:
            self._next += 1
            self._subscribers[self._next] = (agent_id, inbox)
            return self._next, inbox

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subscribers.pop(token, None)

    def publish(self, decision: Decision) -> None:
        if decision.agent_id is None:
            return
        with self._lock:
            targets = list(self._subscribers.values())
        for agent_id, inbox in targets:
            if agent_id is None or agent_id == decision.agent_id:
                # A watcher that stopped reading must not stall routing.
                with contextlib.suppress(queue.Full):
                    inbox.put_nowait(decision)
