"""Routing decisions and the explanation that travels with each one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from ticketrouter.domain.channels import Channel
from ticketrouter.domain.requirements import Requirements

if TYPE_CHECKING:  # cases -> decisions; the packet (which reads cases) is only carried
    from ticketrouter.domain.context import ContextPacket


class Outcome(StrEnum):
    ASSIGNED = "assigned"
    OFFERED = "offered"  # reserved for an agent until they accept, decline or time out
    QUEUED = "queued"
    REJOINED_CASE = "rejoined_case"
    REASSIGNED = "reassigned"


class Exclusion(StrEnum):
    """Why an agent could not take a case (closed set: it labels metrics)."""

    PRESENCE = "presence"
    # The three limits of capacity, in the order they are checked: the channel's
    # slots, the agent's units (blended capacity), an exclusive channel's rule.
    CAPACITY = "capacity"
    CAPACITY_UNITS = "capacity_units"
    CAPACITY_EXCLUSIVE = "capacity_exclusive"
    LANGUAGE = "language"
    TEAM = "team"
    DECLINED = "declined"  # declined this case's offer, or let it lapse
    MISSING_SKILL = "missing_skill"
    MISSING_AUTHORITY = "missing_authority"


@dataclass(frozen=True, slots=True)
class Explanation:
    rule: str
    requirements: Requirements
    channel: Channel
    candidates_considered: int = 0
    eligible: int = 0
    excluded_by_reason: dict[str, int] = field(default_factory=dict)
    winner_reason: str = ""
    summary: str = ""
    policy_version: int = 0
    step: int = 0  # routing steps fired before this decision
    strategy: str = ""
    # Who could not take it and why, by agent (the first few; the counts above are whole).
    excluded_agents: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    decision_id: str
    event_id: str
    case_id: str
    customer_id: str
    outcome: Outcome
    agent_id: str | None
    channel: Channel
    topic: str
    priority: int
    explanation: Explanation
    decided_at: datetime
    event_time: datetime
    context: ContextPacket | None = None  # attached at commit, for the agent and Kafka
