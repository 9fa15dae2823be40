"""How a strategy orders eligible agents: a key per agent, smaller is better."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.plan import Strategy
from ticketrouter.domain.requirements import Requirements

NEVER = datetime.min.replace(tzinfo=UTC)  # never assigned: idle the longest

AgentKey = Callable[[Agent], tuple[Any, ...]]


def fairness_key(agent: Agent) -> tuple[float, datetime, str]:
    # Least occupied first, then longest idle, then a stable tie-break.
    return (agent.occupancy(), agent.last_assigned_at or NEVER, agent.agent_id)


def idle_key(agent: Agent) -> tuple[datetime, float, str]:
    return (agent.last_assigned_at or NEVER, agent.occupancy(), agent.agent_id)


def strategy_key(strategy: Strategy, requirements: Requirements) -> AgentKey:
    """Smaller is better."""
    if strategy is Strategy.LONGEST_IDLE:
        return idle_key
    if strategy is Strategy.MOST_PROFICIENT:
        needed = [skill for skill, _ in requirements.skills]

        def proficiency(agent: Agent) -> tuple[int, float, datetime, str]:
            held = -sum(agent.skills.get(skill, 0) for skill in needed)
            return (held, *fairness_key(agent))

        return proficiency
    return fairness_key
