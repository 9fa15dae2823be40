"""What a routing policy decides for one contact, whichever engine evaluated it:
the rule that matched, what the agent must hold, how to choose among the eligible,
and how the requirements relax while the case waits (routing steps)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from ticketrouter.domain.requirements import MIN_PROFICIENCY, Requirements


class Strategy(StrEnum):
    """How to choose among eligible agents (closed set)."""

    LEAST_OCCUPIED = "least_occupied"
    LONGEST_IDLE = "longest_idle"
    MOST_PROFICIENT = "most_proficient"


@dataclass(frozen=True, slots=True)
class Step:
    """After `after_seconds` in queue, relax the requirements. Steps are cumulative:
    the second step relaxes what the first one left."""

    after_seconds: float
    proficiency_delta: int = 0  # -1: one level less on every skill (never below 1)
    extra_teams: frozenset[str] = frozenset()  # teams allowed besides the rule's
    drop_language: bool = False

    def relax(self, requirements: Requirements) -> Requirements:
        skills = tuple(
            (skill, max(MIN_PROFICIENCY, level + self.proficiency_delta))
            for skill, level in requirements.skills
        )
        teams = requirements.teams | self.extra_teams if requirements.teams else frozenset()
        language = None if self.drop_language else requirements.language
        return replace(requirements, skills=skills, teams=teams, language=language)


@dataclass(frozen=True, slots=True)
class Plan:
    rule: str
    requirements: Requirements  # before any step
    priority: int = 0
    strategy: Strategy = Strategy.LEAST_OCCUPIED
    # Prefer the agent who last resolved a case of this customer, when eligible.
    prefer_relationship: bool = True
    steps: tuple[Step, ...] = ()
    policy_version: int = 0

    def requirements_after(self, waited_seconds: float) -> tuple[int, Requirements]:
        """(steps fired, requirements in force) after waiting this long."""
        fired = 0
        requirements = self.requirements
        for step in self.steps:
            if waited_seconds < step.after_seconds:
                break
            requirements = step.relax(requirements)
            fired += 1
        return fired, requirements


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """What a policy condition may look at: the contact, the customer, their history."""

    channel: str
    topic: str
    language: str = ""
    subject: str = ""
    attributes: Mapping[str, object] = field(default_factory=dict)
    customer_tier: str = "standard"
    customer_language: str = ""
    open_cases: int = 0
    previous_cases: int = 0
    last_csat: int | None = None
    is_new_customer: bool = True


class RoutingPolicy(Protocol):
    """A policy version: evaluates contacts into plans, compiled once."""

    @property
    def version(self) -> int: ...

    @property
    def needs_customer(self) -> bool:
        """Whether any rule looks at the customer or their history (else the router
        skips reading them for a new case)."""
        ...

    @property
    def rule_names(self) -> tuple[str, ...]:
        """Every rule, the default last (they label metrics)."""
        ...

    def plan_for(self, facts: ContactFacts) -> Plan: ...
