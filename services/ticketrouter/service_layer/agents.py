"""Agent profile and presence changes; both may let the agent pull waiting work."""

from __future__ import annotations

from datetime import datetime

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.channels import Presence
from ticketrouter.domain.commands import SetPresence, UpsertAgent
from ticketrouter.domain.errors import NotFound
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.queue import withdraw_offers
from ticketrouter.service_layer.routing import pull_waiting_cases
from ticketrouter.service_layer.settings import RoutingSettings


def upsert_agent(
    cmd: UpsertAgent, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Agent:
    cmd.agent.validate()
    uow.repo.upsert_agent(cmd.agent)
    pull_waiting_cases(uow, cmd.agent.agent_id, now, settings)
    return _agent(uow, cmd.agent.agent_id)


def set_presence(
    cmd: SetPresence, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Agent:
    if not uow.repo.set_presence(cmd.agent_id, cmd.presence):
        raise NotFound("agent", cmd.agent_id)
    if cmd.presence is Presence.AVAILABLE:
        pull_waiting_cases(uow, cmd.agent_id, now, settings)
    elif cmd.presence in (Presence.AWAY, Presence.OFFLINE):
        withdraw_offers(uow, cmd.agent_id, now, settings)
    return _agent(uow, cmd.agent_id)


def _agent(uow: UnitOfWork, agent_id: str) -> Agent:
    agent = uow.repo.get_agent(agent_id)
    if agent is None:
        raise NotFound("agent", agent_id)
    return agent
