"""What a case needs from the agent who takes it: skills, authority, language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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

    def describe(self) -> str:
        parts = [f"{skill}>={level}" for skill, level in self.skills]
        parts += [need.describe() for need in self.authority]
        if self.language:
            parts.append(f"lang={self.language}")
        return ", ".join(parts) or "none"


@dataclass(frozen=True, slots=True)
class TopicRule:
    """Requirements for one topic; authority may be computed from contact attributes."""

    name: str
    topic: str
    skills: tuple[tuple[str, int], ...] = ()
    authority: tuple[AuthorityNeed, ...] = ()
    # authority name -> attribute carrying the amount the agent must be allowed to handle
    authority_from_attribute: Mapping[str, str] = field(default_factory=dict)
    priority: int = 0

    def requirements_for(
        self, attributes: Mapping[str, object], language: str | None
    ) -> Requirements:
        needs = {need.name: need for need in self.authority}
        for name, attribute in self.authority_from_attribute.items():
            amount = attributes.get(attribute)
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                floor = needs[name].at_least if name in needs else None
                at_least = max(float(amount), floor) if floor is not None else float(amount)
                needs[name] = AuthorityNeed(name, at_least=at_least)
        return Requirements(self.skills, tuple(needs.values()), language or None)


@dataclass(frozen=True, slots=True)
class RuleBook:
    """Topic rules: an exact topic wins, then the longest `prefix.*`, then the default."""

    version: int
    rules: tuple[TopicRule, ...]
    default: TopicRule

    def rule_for(self, topic: str) -> TopicRule:
        best: TopicRule | None = None
        for rule in self.rules:
            if rule.topic == topic:
                return rule
            if (
                rule.topic.endswith(".*")
                and topic.startswith(rule.topic[:-1])
                and (best is None or len(rule.topic) > len(best.topic))
            ):
                best = rule
        return best or self.default
