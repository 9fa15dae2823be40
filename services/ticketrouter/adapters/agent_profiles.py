"""Parsed agent profiles shared across transactions.

An agent's skills, authority and languages change rarely, yet every routing
transaction reads them for every candidate; parsing their JSON again each time
cost more than the query itself. Profiles are keyed by their stored text, so an
update made by any process is picked up by the next read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    key: tuple[str, str, str]
    skills: Mapping[str, int]
    authority: Mapping[str, float]
    languages: frozenset[str]


class AgentProfiles:
    def __init__(self) -> None:
        self._by_agent: dict[str, Profile] = {}

    def profile(self, agent_id: str, skills: str, authority: str, languages: str) -> Profile:
        key = (skills, authority, languages)
        known = self._by_agent.get(agent_id)
        if known is not None and known.key == key:
            return known
        parsed = Profile(
            key=key,
            skills={str(k): int(v) for k, v in json.loads(skills).items()},
            authority={str(k): float(v) for k, v in json.loads(authority).items()},
            languages=frozenset(json.loads(languages)),
        )
        self._by_agent[agent_id] = parsed
        return parsed
