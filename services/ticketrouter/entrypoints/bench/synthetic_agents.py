"""Synthetic agents: seeded into the worker's database, and ranked by the matching bench."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.channels import Channel, Presence

AGENT_SKILLS = ("billing", "orders", "technical", "security")
CAPACITY_RANGES = {
    Channel.EMAIL: (20, 40),
    Channel.CHAT: (3, 6),
    Channel.VOICE: (1, 2),
    Channel.SMS: (5, 10),
    Channel.SOCIAL: (5, 10),
    Channel.WEB: (10, 20),
    Channel.STORE: (1, 2),
}


def make_agent(rng: random.Random, number: int, loaded: bool) -> Agent:
    """An available agent; `loaded` gives random current load (matching benchmark)."""
    primary = AGENT_SKILLS[number % len(AGENT_SKILLS)]
    skills = {"general": rng.randint(1, 5), primary: rng.randint(3, 5)}
    for extra in rng.sample(AGENT_SKILLS, rng.randint(0, 2)):
        skills.setdefault(extra, rng.randint(1, 4))
    authority = {"refund_limit": float(rng.choice((100, 200, 500, 1000)))}
    if rng.random() < 0.6:
        authority["can_waive_fees"] = 1.0
    if skills.get("security", 0) >= 3:
        authority["can_unlock_account"] = 1.0
    spoken = {"en"} | {
        lang for lang, share in (("es", 0.4), ("fr", 0.2), ("de", 0.15)) if rng.random() < share
    }
    capacity = {channel: rng.randint(low, high) for channel, (low, high) in CAPACITY_RANGES.items()}
    load = {channel: rng.randint(0, slots) for channel, slots in capacity.items()} if loaded else {}
    last = datetime.now(UTC).timestamp() - rng.uniform(0, 3600) if loaded else None
    return Agent(
        agent_id=f"agent-{number:05d}",
        name=f"Agent {number}",
        team=primary,
        skills=skills,
        authority=authority,
        languages=frozenset(spoken),
        capacity=capacity,
        load=load,
        presence=Presence.AVAILABLE,
        last_assigned_at=datetime.fromtimestamp(last, UTC) if last is not None else None,
    )
