"""Stage 3: one routing decision among 1k, 10k and 100k online agents, no I/O.

Each size is measured twice in the same run: the scan over every candidate (the
baseline, what matching did before the roster index) and the roster index, where
each timed decision also books the winner's slot in the index as a reservation
does. Both must pick the same winners.
"""

from __future__ import annotations

import copy
import random
import time
from statistics import fmean

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.matching import rank_agents
from ticketrouter.domain.plan import ContactFacts, RoutingPolicy
from ticketrouter.domain.requirements import Requirements
from ticketrouter.domain.roster import RosterIndex
from ticketrouter.entrypoints.bench.reporting import BenchFailed, emit, percentile, say
from ticketrouter.entrypoints.bench.synthetic_agents import make_agent
from ticketrouter.entrypoints.bench.traffic import (
    CHANNEL_MIX,
    LANGUAGE_MIX,
    TOPIC_MIX,
    weighted_choice,
)

MATCHING_TARGET_US = 1_000.0  # one decision among 10,000 online agents
MATCHING_DECISIONS = 500
# A scan of 100,000 agents takes ~0.2 s a decision: fewer of them give its figure.
SCAN_WORK_BUDGET = 2_000_000  # agent visits per size
CHECKED_WINNERS = 20

Work = tuple[Requirements, Channel, str]


def bench_matching(rules: RoutingPolicy, agents: int) -> None:
    for size in sorted({max(1, agents // 10), agents, agents * 10}):
        _bench_size(rules, size)


def _bench_size(rules: RoutingPolicy, size: int) -> None:
    rng = random.Random(11)
    online = [make_agent(rng, number, loaded=True) for number in range(size)]
    work = [typical_work(rng, rules) for _ in range(MATCHING_DECISIONS)]
    scans = max(10, min(MATCHING_DECISIONS, SCAN_WORK_BUDGET // size))
    say(
        f"matching: {size:,} online agents, {MATCHING_DECISIONS} indexed decisions, "
        f"{scans} scanned (baseline)"
    )
    copies = copy.deepcopy(online)  # the index books slots on its own agents
    started = time.perf_counter()
    index = RosterIndex(copies)
    build_ms = (time.perf_counter() - started) * 1000
    _check_same_winners(online, index, work[:CHECKED_WINNERS], rules.version)
    scanned = _timed_scan(online, work[:scans], rules.version)
    indexed, eligible = _timed_index(index, work, rules.version)
    context = {
        "agents": size,
        "method": "roster index",
        "decisions": len(indexed),
        "mean_eligible": round(eligible / len(indexed)),
        "index_build_ms": round(build_ms, 1),
        "baseline": "scan of every candidate, same agents and work",
        "baseline_decisions": len(scanned),
        "target_us": MATCHING_TARGET_US,
    }
    for figure, measure in (("matching_mean", fmean), ("matching_p99", _p99)):
        value, base = measure(indexed), measure(scanned)
        emit(
            figure,
            round(value, 1),
            "us",
            baseline_us=round(base, 1),
            meets_target=value <= MATCHING_TARGET_US,
            **context,
        )


def _p99(values: list[float]) -> float:
    return percentile(values, 99)


def _check_same_winners(
    online: list[Agent], index: RosterIndex, work: list[Work], version: int
) -> None:
    for requirements, channel, rule in work:
        staffed = [a for a in online if a.capacity.get(channel, 0) > 0]
        scan = rank_agents(requirements, channel, staffed, rule, policy_version=version)
        fast = rank_agents(
            requirements, channel, index.staffed(channel), rule, policy_version=version
        )
        if scan.explanation != fast.explanation:
            raise BenchFailed(f"the index and the scan disagree on {requirements.describe()}")


def _timed_scan(online: list[Agent], work: list[Work], version: int) -> list[float]:
    by_channel = {c: [a for a in online if a.capacity.get(c, 0) > 0] for c in Channel}
    micros: list[float] = []
    for requirements, channel, rule in work:
        start = time.perf_counter_ns()
        rank_agents(requirements, channel, by_channel[channel], rule, policy_version=version)
        micros.append((time.perf_counter_ns() - start) / 1000)
    return micros


def _timed_index(index: RosterIndex, work: list[Work], version: int) -> tuple[list[float], int]:
    micros: list[float] = []
    eligible = 0
    for requirements, channel, rule in work:
        start = time.perf_counter_ns()
        ranking = rank_agents(
            requirements, channel, index.staffed(channel), rule, policy_version=version
        )
        winner = ranking.best
        if winner is not None:  # the reservation's bookkeeping, as a transaction does it
            index.set_load(winner.agent_id, channel, winner.load.get(channel, 0) + 1)
        micros.append((time.perf_counter_ns() - start) / 1000)
        eligible += len(ranking.eligible)
    return micros, eligible


def typical_work(rng: random.Random, rules: RoutingPolicy) -> Work:
    """A (requirements, channel, rule) drawn from the same mixes as the contact traffic."""
    topic = weighted_choice(rng, TOPIC_MIX)
    attributes = (
        {"order_value": round(rng.uniform(20, 400), 2)} if topic == "billing.refund" else {}
    )
    channel = Channel(weighted_choice(rng, CHANNEL_MIX))
    language = weighted_choice(rng, LANGUAGE_MIX)
    plan = rules.plan_for(ContactFacts(channel.value, topic, language, attributes=attributes))
    return plan.requirements, channel, plan.rule
