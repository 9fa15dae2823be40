"""What "fair" means for each choice strategy, measured: 3,000 chats with a fixed seed
routed by the real handlers on a virtual clock to a skill group of 12 agents (billing
proficiency 3, 4 and 5, four of each; two chats each), every chat worked for an
exponential handle time and resolved, at half the group's capacity. The README quotes
the figures this test prints; each assertion states the bound it holds a strategy to."""

from __future__ import annotations

import heapq
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.builders import agent, contact
from tests.fakes import FakeClock, FakeUnitOfWork
from ticketrouter.adapters.rules_file import parse_policy_text
from ticketrouter.domain.commands import ResolveCase, UpsertAgent
from ticketrouter.domain.decisions import Outcome
from ticketrouter.domain.fairness import busiest_to_median, gini
from ticketrouter.service_layer.agents import upsert_agent
from ticketrouter.service_layer.cases import resolve_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.settings import RoutingSettings

SEED = 20270126
CONTACTS = 3000
HANDLE_SECONDS = 240.0  # mean; 12 agents x 2 chats at half load: one chat every 20 s
ARRIVAL_SECONDS = HANDLE_SECONDS / 12
T0 = datetime(2027, 1, 26, 9, 0, tzinfo=UTC)
AGENTS = {f"agent-{n:02d}": 3 + n % 3 for n in range(12)}  # id -> billing proficiency


def _route(strategy: str) -> Counter[str]:
    policy = parse_policy_text(
        f"skills: [billing]\nrules:\n  - name: billing\n    skills: {{billing: 3}}\n"
        f"    strategy: {strategy}\n"
    ).with_version(1)
    settings = RoutingSettings(policy)
    uow, clock, rng = FakeUnitOfWork(), FakeClock(T0), random.Random(SEED)
    for agent_id, level in AGENTS.items():
        with uow:
            profile = agent(agent_id, {"billing": level}, capacity={"chat": 2})
            upsert_agent(UpsertAgent(profile), uow, clock.now(), settings)
            uow.commit()
    assigned: Counter[str] = Counter()
    ends: list[tuple[datetime, str]] = []
    arrival = T0
    for n in range(CONTACTS):
        arrival += timedelta(seconds=rng.expovariate(1 / ARRIVAL_SECONDS))
        while ends and ends[0][0] <= arrival:
            at, case_id = heapq.heappop(ends)
            clock.advance(seconds=(at - clock.now()).total_seconds())
            with uow:
                resolve_case(ResolveCase(case_id), uow, clock.now(), settings)
                uow.commit()
        clock.advance(seconds=(arrival - clock.now()).total_seconds())
        with uow:
            chat = contact(("email", f"c{n}@example.com"), channel="chat", at=arrival)
            [decision] = handle_events([chat], uow, clock.now(), settings)
            uow.commit()
        assert decision is not None and decision.outcome is Outcome.ASSIGNED, "nobody waits"
        assert decision.agent_id is not None
        assigned[decision.agent_id] += 1
        handled = timedelta(seconds=rng.expovariate(1 / HANDLE_SECONDS))
        heapq.heappush(ends, (arrival + handled, decision.case_id))
    return assigned


def _spread(assigned: Counter[str], levels: set[int]) -> tuple[float, float]:
    counts = [assigned[a] for a, level in AGENTS.items() if level in levels]
    return busiest_to_median(counts), gini(counts)


@pytest.mark.parametrize(
    ("strategy", "max_over_median", "max_gini"),
    [
        # no agent of the group more than 15% above its median, whatever their
        # proficiency (measured: 8.4%, Gini 0.022)
        ("least_occupied", 1.15, 0.05),
        # by time since the last assignment: within 5% (measured: 1.6%, Gini 0.009)
        ("longest_idle", 1.05, 0.03),
    ],
)
def test_the_load_spreading_strategies_keep_every_agent_near_the_median(
    strategy: str, max_over_median: float, max_gini: float
) -> None:
    assigned = _route(strategy)
    ratio, spread = _spread(assigned, {3, 4, 5})
    print(f"{strategy}: busiest/median {ratio:.3f}, Gini {spread:.3f}, {sorted(assigned.values())}")
    assert ratio <= max_over_median
    assert spread <= max_gini


def test_most_proficient_is_fair_within_a_proficiency_and_favours_the_best() -> None:
    assigned = _route("most_proficient")
    best = sum(assigned[a] for a, level in AGENTS.items() if level == 5)
    ratio, spread = _spread(assigned, {5})
    share = best / CONTACTS
    print(f"most_proficient: top tier {share:.1%}, busiest/median {ratio:.3f}, Gini {spread:.3f}")
    # the four agents at 5 take most of the work (they are a third of the group;
    # measured: 60.3%) ...
    assert share >= 0.55
    # ... and among themselves, none more than 15% above their median (measured: 9.2%)
    assert ratio <= 1.15
    assert spread <= 0.05
