"""Agents: what they can resolve (skills, authority, languages) and how much room they have."""

from __future__ import annotations

from collections.abc import Mapping, Sized
from dataclasses import dataclass, field
from datetime import datetime

from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.errors import InvalidField
from ticketrouter.domain.requirements import MAX_PROFICIENCY, MIN_PROFICIENCY

MAX_CAPACITY_PER_CHANNEL = 50
# Blended capacity: a total in units per agent and a cost per channel (Salesforce's
# presence capacity, Azure Job Router's capacityCostPerJob). 0 units: not blended,
# only the channels' slots count, as before units existed.
MAX_UNITS = 10_000
# Bounds on what one profile may hold, so that a page of agents always fits a
# response and matching never walks an unbounded skill map. A real profile holds
# a few dozen skills; these are far above that and far below trouble.
MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 200
MAX_SKILLS = 200
MAX_AUTHORITIES = 50
MAX_LANGUAGES = 20
MAX_KEY_LENGTH = 64


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
    # Blended capacity (see domain/capacity.py): what the agent can hold at once in
    # units (0: not blended), what one contact costs on each channel (a channel
    # without a cost counts only against its slots), and the channels whose work is
    # never held beside work on another channel (while on a call, nothing else).
    units: int = 0
    unit_costs: Mapping[Channel, int] = field(default_factory=dict)
    exclusive_channels: frozenset[Channel] = frozenset()

    def free_capacity(self, channel: Channel) -> int:
        return self.capacity.get(channel, 0) - self.load.get(channel, 0)

    def units_used(self) -> int:
        costs = self.unit_costs
        return sum(held * costs.get(channel, 0) for channel, held in self.load.items())

    def occupancy(self) -> float:
        """Share of the agent's room in use, the basis of fair spreading: of their
        units when they have units (a call and five chats are both a full desk),
        otherwise of all their channel slots."""
        if self.units:
            return self.units_used() / self.units
        total = sum(self.capacity.values())
        return sum(self.load.values()) / total if total else 1.0

    def validate(self) -> None:
        if not self.agent_id.strip():
            raise InvalidField("agent.agent_id", "must not be empty")
        if not self.name.strip():
            raise InvalidField("agent.name", "must not be empty")
        _bounded_length("agent.agent_id", self.agent_id, MAX_ID_LENGTH)
        _bounded_length("agent.name", self.name, MAX_NAME_LENGTH)
        _bounded_length("agent.team", self.team, MAX_ID_LENGTH)
        _bounded_count("agent.skills", self.skills, MAX_SKILLS)
        _bounded_count("agent.authority", self.authority, MAX_AUTHORITIES)
        _bounded_count("agent.languages", self.languages, MAX_LANGUAGES)
        for key in (*self.skills, *self.authority, *self.languages):
            if len(key) > MAX_KEY_LENGTH:
                raise InvalidField(
                    "agent", f"{key[:32]!r}…: names are at most {MAX_KEY_LENGTH} characters"
                )
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
        self._validate_units()

    def _validate_units(self) -> None:
        if not 0 <= self.units <= MAX_UNITS:
            raise InvalidField("agent.units", f"must be 0..{MAX_UNITS}, got {self.units}")
        for channel, cost in self.unit_costs.items():
            where = f"agent.capacity[{channel}].cost"
            if cost < 0:
                raise InvalidField(where, f"must not be negative, got {cost}")
            if cost and not self.units:
                raise InvalidField(where, "a cost in units needs agent.units above 0")
            if cost > self.units:
                raise InvalidField(
                    where,
                    f"{cost} is more than the agent's {self.units} units: "
                    f"no {channel} contact would ever fit",
                )


def _bounded_length(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidField(field, f"longer than {limit} characters ({len(value)})")


def _bounded_count(field: str, values: Sized, limit: int) -> None:
    count = len(values)
    if count > limit:
        raise InvalidField(field, f"more than {limit} entries ({count})")
