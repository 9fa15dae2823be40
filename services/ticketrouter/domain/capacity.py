"""Capacity: whether one more contact on a channel fits an agent, and if not, which
limit stops it.

Three limits, checked in this order so an explanation names the first one met:

1. the channel's slots (`capacity`: voice 1, chat 3) - an upper bound always;
2. the agent's units (`capacity_units`), for blended agents: what they hold costs
   units per channel, and one more contact must fit the total (100 units, voice
   100, chat 20: one call, or five chats, never both);
3. exclusive channels (`capacity_exclusive`): work on one is never held beside work
   on any other channel, so while on a call nothing else is offered, and a call is
   not offered on top of chats.

An agent with no units and no exclusive channel is bound by slots alone.
"""

from __future__ import annotations

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.decisions import Exclusion


def capacity_limit(agent: Agent, channel: Channel) -> Exclusion | None:
    """The limit that keeps one more `channel` contact from `agent`, or None if it fits."""
    load = agent.load
    if agent.capacity.get(channel, 0) <= load.get(channel, 0):
        return Exclusion.CAPACITY
    if agent.units and not units_fit(agent, channel):
        return Exclusion.CAPACITY_UNITS
    if agent.exclusive_channels and mixes_exclusive(agent, channel):
        return Exclusion.CAPACITY_EXCLUSIVE
    return None


def units_fit(agent: Agent, channel: Channel) -> bool:
    return agent.units_used() + agent.unit_costs.get(channel, 0) <= agent.units


def mixes_exclusive(agent: Agent, channel: Channel) -> bool:
    """Would a `channel` contact sit beside held work on another channel while either
    of the two channels is exclusive?"""
    exclusive = agent.exclusive_channels
    this_exclusive = channel in exclusive
    for held, count in agent.load.items():
        if count > 0 and held is not channel and (this_exclusive or held in exclusive):
            return True
    return False
