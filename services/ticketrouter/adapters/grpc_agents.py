"""AgentService: profiles, capacity and presence."""

from __future__ import annotations

import math

import grpc

from ticketrouter.adapters.cursors import decode_key, encode_key
from ticketrouter.adapters.grpc_errors import grpc_errors, invalid
from ticketrouter.adapters.grpc_pages import fill_page, page_size
from ticketrouter.adapters.messages import agent_to_proto
from ticketrouter.bootstrap import App
from ticketrouter.domain.agents import Agent
from ticketrouter.domain.channels import Channel, Presence, parse_channel, parse_presence
from ticketrouter.domain.commands import SetPresence, UpsertAgent
from ticketrouter.domain.errors import InvalidField, NotFound
from ticketrouter.service_layer.agents import set_presence, upsert_agent
from ticketrouter.v1 import agents_pb2, agents_pb2_grpc


def agent_from_proto(message: agents_pb2.Agent) -> Agent:
    capacity: dict[Channel, int] = {}
    costs: dict[Channel, int] = {}
    exclusive: set[Channel] = set()
    for index, slot in enumerate(message.capacity):
        channel = parse_channel(slot.channel, f"agent.capacity[{index}].channel")
        capacity[channel] = slot.capacity
        if slot.cost:
            costs[channel] = slot.cost
        if slot.exclusive:
            exclusive.add(channel)
    for name, amount in message.authority.items():
        if not math.isfinite(amount):
            raise InvalidField(f"agent.authority[{name}]", "must be a finite number")
    return Agent(
        agent_id=message.agent_id.strip(),
        name=message.name.strip() or message.agent_id.strip(),
        team=message.team.strip(),
        skills=dict(message.skills),
        authority=dict(message.authority),
        languages=frozenset(lang.strip().lower() for lang in message.languages if lang.strip()),
        capacity=capacity,
        units=message.units,
        unit_costs=costs,
        exclusive_channels=frozenset(exclusive),
        presence=parse_presence(message.presence, "agent.presence")
        if message.presence
        else Presence.OFFLINE,
    )


class AgentServicer(agents_pb2_grpc.AgentServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app

    @grpc_errors
    def UpsertAgent(
        self, request: agents_pb2.UpsertAgentRequest, context: grpc.aio.ServicerContext
    ) -> agents_pb2.Agent:
        if not request.HasField("agent"):
            invalid("agent", "is required")
        agent = self.app.bus.execute(upsert_agent, UpsertAgent(agent_from_proto(request.agent)))
        return agent_to_proto(agent)

    @grpc_errors
    def SetPresence(
        self, request: agents_pb2.SetPresenceRequest, context: grpc.aio.ServicerContext
    ) -> agents_pb2.Agent:
        if not request.agent_id:
            invalid("agent_id", "is required")
        command = SetPresence(request.agent_id, parse_presence(request.presence))
        return agent_to_proto(self.app.bus.execute(set_presence, command))

    @grpc_errors
    def GetAgent(
        self, request: agents_pb2.GetAgentRequest, context: grpc.aio.ServicerContext
    ) -> agents_pb2.Agent:
        if not request.agent_id:
            invalid("agent_id", "is required")
        with self.app.read_uow() as uow:
            agent = uow.repo.get_agent(request.agent_id)
        if agent is None:
            raise NotFound("agent", request.agent_id)
        return agent_to_proto(agent)

    @grpc_errors
    def ListAgents(
        self, request: agents_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> agents_pb2.ListAgentsResponse:
        presence = parse_presence(request.presence) if request.presence else None
        size = page_size(request.page_size)
        after = decode_key(request.page_token, "agents") if request.page_token else None
        with self.app.read_uow() as uow:
            # One more than a page tells whether another page follows.
            agents = uow.repo.list_agents(request.team or None, presence, after, size + 1)
        page, more = fill_page(agents, agent_to_proto, size)
        token = encode_key("agents", page[-1].agent_id) if more else ""
        return agents_pb2.ListAgentsResponse(agents=page, next_page_token=token)
