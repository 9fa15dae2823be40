"""What a case needs from the agent who takes it: skills, authority, language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MIN_PROFICIENCY = 1
MAX_PROFICIENCY = 5


@dataclass(frozen=True, slots=True)
class AuthorityNeed:
    """A numeric limit the agent must reach (`at_least`) or a flag that must be set."""

    name: str
    at_least: float | None = None
    must_be_true: bool = False

    def met_by(self, authority: Mapping[str, float]) -> bool:
        held = authority.get(self.name)
        if held is None:
            return False
        if self.must_be_true:
            return held >= 1.0
        return self.at_least is None or held >= self.at_least

    def describe(self) -> str:
        if self.must_be_true:
            return self.name
        return f"{self.name}>={self.at_least:g}" if self.at_least is not None else self.name


@dataclass(frozen=True, slots=True)
class Requirements:
    skills: tuple[tuple[str, int], ...] = ()
    authority: tuple[AuthorityNeed, ...] = ()
    language: str | None = None
    teams: frozenset[str] = frozenset()  # empty: any team

    def describe(self) -> str:
        parts = [f"{skill}>={level}" for skill, level in self.skills]
        parts += [need.describe() for need in self.authority]
        if self.language:
            parts.append(f"lang={self.language}")
        if self.teams:
            parts.append("team in " + "|".join(sorted(self.teams)))
        return ", ".join(parts) or "none"
