"""Matching: which agents are empowered to take a case, and which one wins.

Pure functions of (requirements, channel, candidates): microseconds per agent,
so a decision among thousands of online agents stays well under a millisecond
per hundred candidates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.cases import Case
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.decisions import Exclusion, Explanation
from ticketrouter.domain.requirements import Requirements

_NEVER = datetime.min.replace(tzinfo=UTC)  # never assigned: idle the longest


def exclusion(agent: Agent, requirements: Requirements, channel: Channel) -> Exclusion | None:
    """Why `agent` may not take this work, or None when they are eligible (= empowered)."""
    if agent.presence is not Presence.AVAILABLE:
        return Exclusion.PRESENCE
    if agent.capacity.get(channel, 0) <= agent.load.get(channel, 0):
        return Exclusion.CAPACITY
    if requirements.language and requirements.language not in agent.languages:
        return Exclusion.LANGUAGE
    skills = agent.skills
    for skill, level in requirements.skills:
        if skills.get(skill, 0) < level:
            return Exclusion.MISSING_SKILL
    for need in requirements.authority:
        if not need.met_by(agent.authority):
            return Exclusion.MISSING_AUTHORITY
    return None


def _fairness_key(agent: Agent) -> tuple[float, datetime, str]:
    # Least occupied first, then longest idle, then a stable tie-break.
    return (agent.occupancy(), agent.last_assigned_at or _NEVER, agent.agent_id)


@dataclass(frozen=True, slots=True)
class Ranking:
    """The eligible agents, the best of them, and how they were found."""

    eligible: tuple[Agent, ...]
    best: Agent | None
    explanation: Explanation

    def in_order(self, preferred: str | None = None) -> Iterator[Agent]:
        """Best first (a preferred eligible agent before everyone); sorts all of them
        only when the first choices could not be reserved."""
        tried: set[str] = set()
        first = [a for a in self.eligible if a.agent_id == preferred]
        if self.best is not None:
            first.append(self.best)
        for agent in [*first, *sorted(self.eligible, key=_fairness_key)]:
            if agent.agent_id not in tried:
                tried.add(agent.agent_id)
                yield agent


def rank_agents(
    requirements: Requirements,
    channel: Channel,
    candidates: Iterable[Agent],
    rule: str,
    excluded_ids: frozenset[str] = frozenset(),
    policy_version: int = 0,
) -> Ranking:
    eligible: list[Agent] = []
    reasons: Counter[Exclusion] = Counter()
    considered = 0
    for agent in candidates:
        if agent.agent_id in excluded_ids:
            continue
        considered += 1
        why = exclusion(agent, requirements, channel)
        if why is None:
            eligible.append(agent)
        else:
            reasons[why] += 1
    winner = min(eligible, key=_fairness_key) if eligible else None
    if winner is not None:
        winner_reason = (
            f"least occupied ({winner.occupancy():.0%}) of {len(eligible)} eligible"
            if len(eligible) > 1
            else "the only eligible agent"
        )
        summary = assignment_summary(winner.agent_id, requirements, channel)
    else:
        winner_reason = ""
        top = ", ".join(f"{n} {r.value}" for r, n in reasons.most_common(3))
        top = top or "no agents online"
        summary = f"no eligible agent for {requirements.describe()} on {channel} ({top})"
    explanation = Explanation(
        rule=rule,
        requirements=requirements,
        channel=channel,
        candidates_considered=considered,
        eligible=len(eligible),
        excluded_by_reason={reason.value: n for reason, n in reasons.items()},
        winner_reason=winner_reason,
        summary=summary,
        policy_version=policy_version,
    )
    return Ranking(tuple(eligible), winner, explanation)


def assignment_summary(agent_id: str, requirements: Requirements, channel: Channel) -> str:
    return f"{agent_id} holds {requirements.describe()} on {channel}"


def queue_order_key(case: Case) -> tuple[int, datetime, str]:
    """Higher priority first, then the longest waiting."""
    return (-case.priority, case.queued_at or case.opened_at, case.case_id)


def best_case_for(
    agent: Agent, waiting: Sequence[Case], skip: frozenset[str] = frozenset()
) -> Case | None:
    """The agent who frees capacity pulls the best waiting case they are empowered for
    (never one in `skip`, e.g. the case they just handed off)."""
    for case in sorted(waiting, key=queue_order_key):
        if case.case_id in skip:
            continue
        if exclusion(agent, case.requirements, case.channel) is None:
            return case
    return None
