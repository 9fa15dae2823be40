"""The demo agents' shifts, over AgentService: everyone on line as the demo starts,
then a rota takes agents off shift and brings them back, as a contact center's day
does, and everyone goes offline as the demo ends."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc

from ticketrouter.entrypoints.demo.stubs import RPC_TIMEOUT_S, AgentStub
from ticketrouter.v1 import agents_pb2

log = logging.getLogger(__name__)

# The order agents go off shift in, OFF_AT_ONCE at a time: neighbours never hold the
# same scarce power (refunds up to 1000, account unlocks in Spanish or in French), so
# whoever is off, someone on line can take every case.
ROTATION = (
    "ana-ruiz",
    "dev-patel",
    "farid-haddad",
    "ben-okafor",
    "hugo-lefevre",
    "elena-garcia",
    "grace-kim",
    "jonas-berg",
    "ines-duarte",
    "chloe-martin",
    "kemi-adebayo",
    "luis-romero",
)
OFF_AT_ONCE = 2
# A demo minute stands for an hour or two of a real day: often enough to watch agents
# come and go, rarely enough that most cases are worked by one agent start to finish.
CHANGE_EVERY_S = 60.0


@dataclass
class Rota:
    """Who is off shift at a moment of the demo: nobody at first, then from each change
    on one more agent leaves and the one off longest comes back."""

    order: Sequence[str] = ROTATION
    off_at_once: int = OFF_AT_ONCE
    change_every_s: float = CHANGE_EVERY_S
    _off: frozenset[str] = field(default=frozenset(), init=False)

    def off_shift(self, elapsed_s: float) -> frozenset[str]:
        changes = int(elapsed_s // self.change_every_s)
        if changes == 0:
            return frozenset()
        first = changes - 1
        return frozenset(self.order[(first + i) % len(self.order)] for i in range(self.off_at_once))

    def changes(self, elapsed_s: float) -> tuple[frozenset[str], frozenset[str]]:
        """(agents who go off shift now, agents who come back) since the last call."""
        off = self.off_shift(elapsed_s)
        leaving, back = off - self._off, self._off - off
        self._off = off
        return leaving, back


def log_on(agents: AgentStub, roster: Sequence[agents_pb2.Agent]) -> None:
    for agent in roster:
        agents.UpsertAgent(agents_pb2.UpsertAgentRequest(agent=agent), timeout=RPC_TIMEOUT_S)


def set_presence(agents: AgentStub, agent_ids: Sequence[str], presence: str) -> None:
    """Off shift is `away`: the router sends them nothing new and their open cases stay
    theirs to finish. Back on shift is `available`: they pull waiting work at once."""
    for agent_id in agent_ids:
        agents.SetPresence(
            agents_pb2.SetPresenceRequest(agent_id=agent_id, presence=presence),
            timeout=RPC_TIMEOUT_S,
        )


def log_off(agents: AgentStub, roster: Sequence[agents_pb2.Agent]) -> None:
    # Offline, not available: nobody is left to work whatever the router would
    # still send them. Their open cases wait for the next run.
    for agent in roster:
        try:
            agents.SetPresence(
                agents_pb2.SetPresenceRequest(agent_id=agent.agent_id, presence="offline"),
                timeout=RPC_TIMEOUT_S,
            )
        except grpc.RpcError as err:
            log.warning(
                "could not log an agent off",
                extra={"agent": agent.agent_id, "code": str(err.code())},
            )
