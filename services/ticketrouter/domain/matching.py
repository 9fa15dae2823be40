"""Matching: which agents are empowered to take a case, and which one wins.

Pure functions of (requirements, channel, candidates): microseconds per agent,
so a decision among thousands of online agents stays well under a millisecond
per hundred candidates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.capacity import capacity_limit
from ticketrouter.domain.cases import Case
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.decisions import Exclusion, Explanation
from ticketrouter.domain.plan import Strategy
from ticketrouter.domain.requirements import Requirements
from ticketrouter.domain.roster import EligibleAgents, StaffedAgents
from ticketrouter.domain.strategies import AgentKey, strategy_key
from ticketrouter.domain.strategies import fairness_key as _fairness_key


def exclusion(agent: Agent, requirements: Requirements, channel: Channel) -> Exclusion | None:
    """Why `agent` may not take this work, or None when they are eligible (= empowered)."""
    if agent.presence is not Presence.AVAILABLE:
        return Exclusion.PRESENCE
    if agent.capacity.get(channel, 0) <= agent.load.get(channel, 0):
        return Exclusion.CAPACITY
    if (agent.units or agent.exclusive_channels) and (limit := capacity_limit(agent, channel)):
        return limit
    if requirements.language and requirements.language not in agent.languages:
        return Exclusion.LANGUAGE
    if requirements.teams and agent.team not in requirements.teams:
        return Exclusion.TEAM
    skills = agent.skills
    for skill, level in requirements.skills:
        if skills.get(skill, 0) < level:
            return Exclusion.MISSING_SKILL
    for need in requirements.authority:
        if not need.met_by(agent.authority):
            return Exclusion.MISSING_AUTHORITY
    return None


MAX_EXCLUDED_NAMED = 20  # agents named in an explanation; the counts stay whole

_WHY = {
    Strategy.LEAST_OCCUPIED: "least occupied",
    Strategy.LONGEST_IDLE: "longest idle",
    Strategy.MOST_PROFICIENT: "most proficient",
}


@dataclass(frozen=True, slots=True)
class Ranking:
    """The eligible agents, the best of them, and how they were found."""

    eligible: Sequence[Agent]
    best: Agent | None
    explanation: Explanation
    key: AgentKey = _fairness_key

    def in_order(self, preferred: str | None = None) -> Iterator[Agent]:
        """Best first (a preferred eligible agent before everyone); sorts all of them
        only when the first choices could not be reserved."""
        tried: set[str] = set()
        first = [a for a in self.eligible if a.agent_id == preferred] if preferred else []
        if self.best is not None:
            first.append(self.best)
        for agent in first:
            if agent.agent_id not in tried:
                tried.add(agent.agent_id)
                yield agent
        # Reached only when every first choice was taken by another router meanwhile.
        for agent in sorted(self.eligible, key=self.key):
            if agent.agent_id not in tried:
                tried.add(agent.agent_id)
                yield agent


@dataclass(slots=True)
class _Screening:
    """Who passed, and who was excluded why, in the order a scan meets them."""

    considered: int
    eligible: Sequence[Agent]
    reasons: Counter[Exclusion]
    named: list[tuple[str, str]]
    winner: Agent | None


def _scan(
    requirements: Requirements,
    channel: Channel,
    candidates: Iterable[Agent],
    excluded_ids: frozenset[str],
    key: AgentKey,
) -> _Screening:
    eligible: list[Agent] = []
    reasons: Counter[Exclusion] = Counter()
    named: list[tuple[str, str]] = []
    considered = 0
    for agent in candidates:
        considered += 1
        why = Exclusion.DECLINED if agent.agent_id in excluded_ids else None
        why = why or exclusion(agent, requirements, channel)
        if why is None:
            eligible.append(agent)
        else:
            reasons[why] += 1
            if len(named) < MAX_EXCLUDED_NAMED:
                named.append((agent.agent_id, why.value))
    winner = min(eligible, key=key) if eligible else None
    return _Screening(considered, tuple(eligible), reasons, named, winner)


def _indexed(
    requirements: Requirements,
    staffed: StaffedAgents,
    excluded_ids: frozenset[str],
    strategy: Strategy,
) -> _Screening:
    """The same screening from the roster's bitsets, without visiting every agent."""
    index = staffed.roster
    candidates, eligible, excluded = index.exclusions(requirements, staffed.channel, excluded_ids)
    # A scan counts reasons in the order it first meets them: by lowest slot.
    first_met = sorted(excluded, key=lambda pair: (pair[1] & -pair[1]).bit_length())
    reasons: Counter[Exclusion] = Counter({why: mask.bit_count() for why, mask in first_met})
    named: list[tuple[str, str]] = []
    if excluded:
        every = 0
        for _why, mask in excluded:
            every |= mask
        for agent in index.agents_in_order(every, MAX_EXCLUDED_NAMED):
            why = Exclusion.DECLINED if agent.agent_id in excluded_ids else None
            why = why or exclusion(agent, requirements, staffed.channel)
            assert why is not None
            named.append((agent.agent_id, why.value))
    winner = index.best(eligible, strategy, requirements)
    return _Screening(
        candidates.bit_count(), EligibleAgents(index, eligible), reasons, named, winner
    )


def rank_agents(
    requirements: Requirements,
    channel: Channel,
    candidates: Iterable[Agent],
    rule: str,
    excluded_ids: frozenset[str] = frozenset(),
    policy_version: int = 0,
    strategy: Strategy = Strategy.LEAST_OCCUPIED,
    step: int = 0,
) -> Ranking:
    """`excluded_ids`: agents who may not have this case (e.g. declined its offer).
    Candidates from a roster index (`RosterIndex.staffed`) are screened by its
    bitsets; any other iterable is scanned. Both give the same ranking."""
    key = strategy_key(strategy, requirements)
    if isinstance(candidates, StaffedAgents) and candidates.channel is channel:
        screening = _indexed(requirements, candidates, excluded_ids, strategy)
    else:
        screening = _scan(requirements, channel, candidates, excluded_ids, key)
    eligible, reasons, winner = screening.eligible, screening.reasons, screening.winner
    if winner is not None:
        winner_reason = (
            f"{_WHY[strategy]} of {len(eligible)} eligible"
            + (
                f" ({winner.occupancy():.0%} occupied)"
                if strategy is not Strategy.LONGEST_IDLE
                else ""
            )
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
        candidates_considered=screening.considered,
        eligible=len(eligible),
        excluded_by_reason={reason.value: n for reason, n in reasons.items()},
        winner_reason=winner_reason,
        summary=summary,
        policy_version=policy_version,
        step=step,
        strategy=strategy.value,
        excluded_agents=tuple(screening.named),
    )
    return Ranking(eligible, winner, explanation, key)


def assignment_summary(agent_id: str, requirements: Requirements, channel: Channel) -> str:
    return f"{agent_id} holds {requirements.describe()} on {channel}"


def queue_order_key(case: Case, aging_per_minute: float = 0.0) -> tuple[float, str]:
    """Higher rank first: priority, raised by waiting time at the aging rate."""
    return (case.queue_rank(aging_per_minute), case.case_id)


def best_case_for(
    agent: Agent,
    waiting: Sequence[Case],
    skip: frozenset[str] = frozenset(),
    aging_per_minute: float = 0.0,
) -> Case | None:
    """The agent who frees capacity pulls the highest-ranked waiting case they are
    empowered for (never one in `skip`, e.g. the case they just handed off, nor one
    whose offer they declined)."""
    for case in sorted(waiting, key=lambda c: queue_order_key(c, aging_per_minute)):
        if case.case_id in skip or agent.agent_id in case.declined_by:
            continue
        if exclusion(agent, case.requirements, case.channel) is None:
            return case
    return None
