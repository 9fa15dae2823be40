"""The demo agents' shift, over AgentService: on line as the demo starts, offline as
it ends."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc

from ticketrouter.entrypoints.demo.stubs import RPC_TIMEOUT_S, AgentStub
from ticketrouter.v1 import agents_pb2

log = logging.getLogger(__name__)


def log_on(agents: AgentStub, roster: Sequence[agents_pb2.Agent]) -> None:
    for agent in roster:
        agents.UpsertAgent(agents_pb2.UpsertAgentRequest(agent=agent), timeout=RPC_TIMEOUT_S)


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
