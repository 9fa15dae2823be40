"""Compare two policies over past contacts: which rule each would pick, how the
requirements and priorities change, and which contacts no agent of the roster could
ever take (skills, authority, language and teams, after every routing step; presence
and capacity ignored, since they change by the minute)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.plan import ContactFacts, Plan, RoutingPolicy
from ticketrouter.domain.requirements import Requirements


def could_ever_serve(agent: Agent, requirements: Requirements) -> bool:
    if requirements.language and requirements.language not in agent.languages:
        return False
    if requirements.teams and agent.team not in requirements.teams:
        return False
    if any(agent.skills.get(skill, 0) < level for skill, level in requirements.skills):
        return False
    return all(need.met_by(agent.authority) for need in requirements.authority)


def requirement_parts(requirements: Requirements) -> list[str]:
    parts = [f"{skill}>={level}" for skill, level in requirements.skills]
    parts += [need.describe() for need in requirements.authority]
    if requirements.language:
        parts.append(f"lang={requirements.language}")
    if requirements.teams:
        parts.append("team in " + "|".join(sorted(requirements.teams)))
    return parts


def requirement_change(before: Requirements, after: Requirements) -> tuple[str, str] | None:
    """What changed, without what both share, so that contacts group by the change
    ("billing>=3" -> "billing>=2") rather than by their order value or language."""
    old, new = requirement_parts(before), requirement_parts(after)
    removed = [part for part in old if part not in new]
    added = [part for part in new if part not in old]
    if not removed and not added:
        return None
    return ", ".join(removed) or "nothing", ", ".join(added) or "nothing"


@dataclass
class SideCounts:
    """One policy's view of the replayed contacts."""

    rules: Counter[str] = field(default_factory=Counter)
    unroutable: Counter[str] = field(default_factory=Counter)  # by rule


@dataclass
class PolicyComparison:
    current: RoutingPolicy
    draft: RoutingPolicy
    roster: Sequence[Agent] | None = None  # None: no roster to judge routability
    contacts: int = 0
    before: SideCounts = field(default_factory=SideCounts)
    after: SideCounts = field(default_factory=SideCounts)
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    requirement_changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    priority_changes: Counter[tuple[int, int]] = field(default_factory=Counter)
    _servable: dict[Requirements, bool] = field(default_factory=dict, repr=False)

    def add(self, facts: ContactFacts) -> tuple[Plan, Plan]:
        before = self.current.plan_for(facts)
        after = self.draft.plan_for(facts)
        self.contacts += 1
        self._count(self.before, before)
        self._count(self.after, after)
        if before.rule != after.rule:
            self.moves[(before.rule, after.rule)] += 1
        change = requirement_change(before.requirements, after.requirements)
        if change is not None:
            self.requirement_changes[change] += 1
        if before.priority != after.priority:
            self.priority_changes[(before.priority, after.priority)] += 1
        return before, after

    @property
    def changed_rule(self) -> int:
        return sum(self.moves.values())

    def _count(self, side: SideCounts, plan: Plan) -> None:
        side.rules[plan.rule] += 1
        if self.roster is None:
            return
        _fired, loosest = plan.requirements_after(math.inf)
        servable = self._servable.get(loosest)
        if servable is None:
            servable = any(could_ever_serve(agent, loosest) for agent in self.roster)
            self._servable[loosest] = servable
        if not servable:
            side.unroutable[plan.rule] += 1
