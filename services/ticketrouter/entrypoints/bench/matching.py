"""Stage 3: one routing decision (`rank_agents`) among many online agents, no I/O."""

from __future__ import annotations

import random
import time
from statistics import fmean

from ticketrouter.domain.channels import Channel
from ticketrouter.domain.matching import rank_agents
from ticketrouter.domain.plan import ContactFacts, RoutingPolicy
from ticketrouter.domain.requirements import Requirements
from ticketrouter.entrypoints.bench.reporting import emit, percentile, say
from ticketrouter.entrypoints.bench.synthetic_agents import make_agent
from ticketrouter.entrypoints.bench.traffic import (
    CHANNEL_MIX,
    LANGUAGE_MIX,
    TOPIC_MIX,
    weighted_choice,
)

MATCHING_TARGET_US = 1_000.0  # one decision among 10,000 online agents
MATCHING_DECISIONS = 200


def bench_matching(rules: RoutingPolicy, agents: int) -> None:
    say(f"matching: rank_agents among {agents:,} online agents, {MATCHING_DECISIONS} decisions")
    rng = random.Random(11)
    online = [make_agent(rng, number, loaded=True) for number in range(agents)]
    work = [typical_work(rng, rules) for _ in range(MATCHING_DECISIONS)]
    for requirements, channel, rule in work[:10]:  # warm-up
        rank_agents(requirements, channel, online, rule, policy_version=rules.version)
    micros: list[float] = []
    eligible = 0
    for requirements, channel, rule in work:
        start = time.perf_counter_ns()
        ranking = rank_agents(requirements, channel, online, rule, policy_version=rules.version)
        micros.append((time.perf_counter_ns() - start) / 1000)
        eligible += len(ranking.eligible)
    context = {
        "agents": agents,
        "decisions": len(micros),
        "mean_eligible": round(eligible / len(micros)),
        "target_us": MATCHING_TARGET_US,
    }
    mean = fmean(micros)
    emit("matching_mean", round(mean, 1), "us", meets_target=mean <= MATCHING_TARGET_US, **context)
    p99 = percentile(micros, 99)
    emit("matching_p99", round(p99, 1), "us", meets_target=p99 <= MATCHING_TARGET_US, **context)


def typical_work(rng: random.Random, rules: RoutingPolicy) -> tuple[Requirements, Channel, str]:
    """A (requirements, channel, rule) drawn from the same mixes as the contact traffic."""
    topic = weighted_choice(rng, TOPIC_MIX)
    attributes = (
        {"order_value": round(rng.uniform(20, 400), 2)} if topic == "billing.refund" else {}
    )
    channel = Channel(weighted_choice(rng, CHANNEL_MIX))
    language = weighted_choice(rng, LANGUAGE_MIX)
    plan = rules.plan_for(ContactFacts(channel.value, topic, language, attributes=attributes))
    return plan.requirements, channel, plan.rule
