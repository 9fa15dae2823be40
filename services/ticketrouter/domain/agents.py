"""Agents: what they can resolve (skills, authority, languages) and how much room they have."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.errors import InvalidField
from ticketrouter.domain.requirements import MAX_PROFICIENCY, MIN_PROFICIENCY

MAX_CAPACITY_PER_CHANNEL = 50


@dataclass(slots=True)
class Agent:
    agent_id: str
    name: str
    team: str
    skills: Mapping[str, int]
    authority: Mapping[str, float]
    languages: frozenset[str]
    capacity: Mapping[Channel, int]
    load: dict[Channel, int] = field(default_factory=dict)
    presence: Presence = Presence.OFFLINE
    last_assigned_at: datetime | None = None

    def free_capacity(self, channel: Channel) -> int:
        return self.capacity.get(channel, 0) - self.load.get(channel, 0)

    def occupancy(self) -> float:
        """Share of all channel slots in use: the basis of fair spreading."""
        total = sum(self.capacity.values())
        return sum(self.load.values()) / total if total else 1.0

    def validate(self) -> None:
        if not self.agent_id.strip():
            raise InvalidField("agent.agent_id", "must not be empty")
        if not self.name.strip():
            raise InvalidField("agent.name", "must not be empty")
        for skill, level in self.skills.items():
            if not skill.strip():
                raise InvalidField("agent.skills", "skill names must not be empty")
            if not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
                raise InvalidField(
                    f"agent.skills[{skill}]",
                    f"proficiency must be {MIN_PROFICIENCY}..{MAX_PROFICIENCY}, got {level}",
                )
        for name, amount in self.authority.items():
            if amount < 0:
                raise InvalidField(f"agent.authority[{name}]", "must not be negative")
        for channel, slots in self.capacity.items():
            if not 0 <= slots <= MAX_CAPACITY_PER_CHANNEL:
                raise InvalidField(
                    f"agent.capacity[{channel}]", f"must be 0..{MAX_CAPACITY_PER_CHANNEL}"
                )
