"""In-process fan-out of assignments to gRPC watchers (agent desktops).

Publishers are the threads that commit decisions; each subscriber is handed every
decision for its agent (or all) through a callback that must not block. `close`
hands every subscriber None: the process is stopping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ticketrouter.domain.decisions import Decision

Deliver = Callable[[Decision | None], None]


class AssignmentFeed:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, tuple[str | None, Deliver]] = {}
        self._next = 0
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        """The process is stopping: watchers end their streams, and desks reconnect
        (to another replica) instead of holding the shutdown for its whole grace."""
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            targets = [deliver for _agent, deliver in self._subscribers.values()]
        for deliver in targets:
            deliver(None)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def subscribe(self, agent_id: str | None, deliver: Deliver) -> int:
        """`deliver` gets each decision for `agent_id` (None: every agent), and None
        when the feed closes (at once if it is closed already)."""
        with self._lock:
            self._next += 1
            self._subscribers[self._next] = (agent_id, deliver)
            token = self._next
        if self.closed:
            deliver(None)
        return token

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subscribers.pop(token, None)

    def publish(self, decision: Decision) -> None:
        if decision.agent_id is None:
            return
        with self._lock:
            targets = list(self._subscribers.values())
        for agent_id, deliver in targets:
            if agent_id is None or agent_id == decision.agent_id:
                deliver(decision)
