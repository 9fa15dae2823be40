"""Fan-out of assignments to gRPC watchers (agent desktops), with a short memory.

Publishers are the threads that commit decisions in this process and the thread
that reads `routing-decisions` (decisions of every process, this one's included);
each subscriber is handed every decision for its agent (or all) through a callback
that must not block. `close` hands every subscriber None: the process is stopping.

The feed holds the last RECENT_DECISIONS decisions that named an agent (at most
PER_AGENT of any one agent): by their id it hands each decision on once, though it
arrives both from the committing thread and from the topic, or twice from the topic
(the outbox relay delivers at least once); and a desk that reconnects with the id
of the last decision it saw is handed those that came after it.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ticketrouter.v1.events_pb2 import RoutingDecision

Deliver = Callable[[RoutingDecision | None], None]

# Duplicates come within seconds (the topic echoes this process's decisions some
# milliseconds after the commit; the relay republishes after a failed delivery
# within a drain interval): at hundreds of decisions a second this is a minute.
RECENT_DECISIONS = 10_000
# What a desk may catch up on after a reconnect; older, it reads its cases instead.
PER_AGENT = 50


@dataclass(frozen=True, slots=True)
class Subscription:
    token: int
    # The desk asked to resume after a decision the feed no longer holds (or never
    # saw): it was handed what the feed holds, and may have missed older ones.
    gap: bool


class AssignmentFeed:
    def __init__(self, recent: int = RECENT_DECISIONS, per_agent: int = PER_AGENT) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, tuple[str | None, Deliver]] = {}
        self._next = 0
        self._closed = threading.Event()
        self._recent_limit = recent
        self._per_agent_limit = per_agent
        self._recent: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._by_agent: dict[str, collections.deque[RoutingDecision]] = {}

    @property
    def closed(self) -> bool:
        """The process is stopping (or serves no desks): watchers end their streams,
        and desks reconnect (to another replica) instead of holding the shutdown for
        its whole grace."""
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

    def subscribe(
        self, agent_id: str | None, deliver: Deliver, after_decision_id: str = ""
    ) -> Subscription:
        """`deliver` gets each decision for `agent_id` (None: every agent), and None
        when the feed closes (at once if it is closed already). With
        `after_decision_id` (an agent's), it first gets the agent's decisions held
        after that one, or all held and a gap when that one is not held."""
        gap = False
        with self._lock:
            self._next += 1
            self._subscribers[self._next] = (agent_id, deliver)
            token = self._next
            if after_decision_id and agent_id is not None:
                held = list(self._by_agent.get(agent_id, ()))
                ids = [decision.decision_id for decision in held]
                gap = after_decision_id not in ids
                missed = held if gap else held[ids.index(after_decision_id) + 1 :]
                # Under the lock: a decision published meanwhile comes after these.
                for decision in missed:
                    deliver(decision)
        if self.closed:
            deliver(None)
        return Subscription(token, gap)

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subscribers.pop(token, None)

    def publish(self, decision: RoutingDecision) -> bool:
        """False when it was handed on before (or names no agent)."""
        agent_id = decision.agent_id
        if not agent_id or self.closed:
            return False
        with self._lock:
            if decision.decision_id in self._recent:
                return False
            self._remember(decision)
            targets = list(self._subscribers.values())
        for wanted, deliver in targets:
            if wanted is None or wanted == agent_id:
                deliver(decision)
        return True

    def _remember(self, decision: RoutingDecision) -> None:
        self._recent[decision.decision_id] = decision.agent_id
        held = self._by_agent.setdefault(
            decision.agent_id, collections.deque(maxlen=self._per_agent_limit)
        )
        held.append(decision)
        while len(self._recent) > self._recent_limit:
            oldest, agent_id = self._recent.popitem(last=False)
            # The oldest overall is its agent's oldest, unless PER_AGENT dropped it.
            agent_held = self._by_agent.get(agent_id)
            if agent_held and agent_held[0].decision_id == oldest:
                agent_held.popleft()
                if not agent_held:
                    del self._by_agent[agent_id]
