"""The roster index screens and ranks exactly as a scan over the same agents does:
same eligible agents, counts, reasons in the same order, named agents and winner,
for any roster and any requirements, and still after loads and profiles change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.matching import Ranking, rank_agents
from ticketrouter.domain.plan import Strategy
from ticketrouter.domain.requirements import AuthorityNeed, Requirements
from ticketrouter.domain.roster import RosterIndex, slots_of

SKILLS = ("billing", "orders", "tech")
LANGUAGES = ("en", "es", "fr")
TEAMS = ("care", "billing", "tech")
CHANNELS = (Channel.EMAIL, Channel.CHAT, Channel.VOICE)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@st.composite
def agents(draw: Any, number: int) -> Agent:
    capacity = {c: draw(st.integers(0, 3)) for c in CHANNELS if draw(st.booleans())}
    return Agent(
        agent_id=f"agent-{number:03d}",
        name=f"Agent {number}",
        team=draw(st.sampled_from(TEAMS)),
        skills={s: draw(st.integers(1, 5)) for s in SKILLS if draw(st.booleans())},
        authority={
            name: float(draw(st.sampled_from([0, 1, 100, 150, 500])))
            for name in ("refund_limit", "can_waive_fees")
            if draw(st.booleans())
        },
        languages=frozenset(draw(st.sets(st.sampled_from(LANGUAGES), max_size=2))),
        capacity=capacity,
        load={c: draw(st.integers(0, slots)) for c, slots in capacity.items()},
        presence=draw(st.sampled_from([Presence.AVAILABLE] * 4 + [Presence.AWAY])),
        last_assigned_at=draw(
            st.none() | st.integers(0, 50).map(lambda m: T0 + timedelta(minutes=m))
        ),
    )


@st.composite
def rosters(draw: Any) -> list[Agent]:
    count = draw(st.integers(0, 120))
    return [draw(agents(n)) for n in range(count)]


@st.composite
def requirements(draw: Any) -> Requirements:
    needs = []
    if draw(st.booleans()):
        needs.append(
            AuthorityNeed("refund_limit", at_least=float(draw(st.sampled_from([50, 150, 600]))))
        )
    if draw(st.booleans()):
        needs.append(AuthorityNeed("can_waive_fees", must_be_true=True))
    if draw(st.booleans()):
        needs.append(AuthorityNeed("refund_limit"))
    return Requirements(
        skills=tuple((s, draw(st.integers(0, 6))) for s in SKILLS if draw(st.booleans())),
        authority=tuple(needs),
        language=draw(st.none() | st.sampled_from(LANGUAGES)),
        teams=frozenset(draw(st.sets(st.sampled_from(TEAMS), max_size=2))),
    )


def _same(by_index: Ranking, by_scan: Ranking) -> None:
    assert by_index.explanation == by_scan.explanation
    assert list(by_index.explanation.excluded_by_reason.items()) == list(
        by_scan.explanation.excluded_by_reason.items()
    ), "reasons in the order a scan meets them"
    assert [a.agent_id for a in by_index.eligible] == [a.agent_id for a in by_scan.eligible]
    assert (by_index.best and by_index.best.agent_id) == (by_scan.best and by_scan.best.agent_id)


def _compare(roster: list[Agent], index: RosterIndex, data: Any) -> None:
    needs = data.draw(requirements())
    channel = data.draw(st.sampled_from(CHANNELS))
    strategy = data.draw(st.sampled_from(list(Strategy)))
    declined = frozenset(data.draw(st.sets(st.sampled_from([a.agent_id for a in roster] or ["x"]))))
    staffed = [a for a in roster if a.capacity.get(channel, 0) > 0]
    by_scan = rank_agents(needs, channel, staffed, "r", declined, 3, strategy, 1)
    by_index = rank_agents(needs, channel, index.staffed(channel), "r", declined, 3, strategy, 1)
    _same(by_index, by_scan)


@settings(max_examples=50, deadline=None)
@given(roster=rosters(), data=st.data())
def test_the_index_ranks_as_a_scan_does(roster: list[Agent], data: Any) -> None:
    index = RosterIndex(roster)
    for _ in range(3):
        _compare(roster, index, data)


@settings(max_examples=30, deadline=None)
@given(roster=rosters(), data=st.data())
def test_the_index_stays_exact_as_loads_and_profiles_change(roster: list[Agent], data: Any) -> None:
    index = RosterIndex(roster)
    for step in range(6):
        if roster:
            changed = data.draw(st.sampled_from(roster))
            action = data.draw(st.sampled_from(["load", "touch", "put"]))
            if action == "load" and changed.capacity:
                channel = data.draw(st.sampled_from(sorted(changed.capacity)))
                index.set_load(changed.agent_id, channel, data.draw(st.integers(0, 3)))
            elif action == "touch":
                index.touch(changed.agent_id, T0 + timedelta(hours=1, minutes=step))
            else:
                replacement = data.draw(agents(int(changed.agent_id.split("-")[1])))
                roster[roster.index(changed)] = replacement
                index.put(replacement)
        _compare(roster, index, data)


def test_many_eligible_agents_are_ranked_from_the_kept_order() -> None:
    roster = [
        Agent(
            agent_id=f"a{n:04d}",
            name="A",
            team="care",
            skills={"billing": 3},
            authority={},
            languages=frozenset({"en"}),
            capacity={Channel.EMAIL: 3},
            load={Channel.EMAIL: n % 4},
            presence=Presence.AVAILABLE,
        )
        for n in range(1000)
    ]
    index = RosterIndex(roster)
    needs = Requirements(skills=(("billing", 2),))
    ranking = rank_agents(needs, Channel.EMAIL, index.staffed(Channel.EMAIL), "r")
    assert len(ranking.eligible) == 750 and ranking.best is not None
    assert ranking.best.agent_id == "a0000"
    index.set_load("a0000", Channel.EMAIL, 1)
    again = rank_agents(needs, Channel.EMAIL, index.staffed(Channel.EMAIL), "r")
    assert again.best is not None and again.best.agent_id == "a0004"


def test_slots_of_a_mask() -> None:
    assert slots_of(0) == []
    assert slots_of(0b1011) == [0, 1, 3]
    assert slots_of(1 << 5000) == [5000]


def test_a_snapshot_scans_at_first_then_indexes_with_the_loads_it_booked() -> None:
    from ticketrouter.domain.roster import INDEX_AFTER_MATCHINGS, RosterSnapshot, StaffedAgents

    def member(n: int) -> Agent:
        return Agent(
            agent_id=f"a{n}",
            name="A",
            team="care",
            skills={"billing": 3},
            authority={},
            languages=frozenset({"en"}),
            capacity={Channel.EMAIL: 1},
            presence=Presence.AVAILABLE,
        )

    snapshot = RosterSnapshot([member(n) for n in range(3)])
    needs = Requirements(skills=(("billing", 2),))
    winners = []
    for _ in range(INDEX_AFTER_MATCHINGS + 2):
        candidates = snapshot.candidates(Channel.EMAIL)
        best = rank_agents(needs, Channel.EMAIL, candidates, "r").best
        winners.append((isinstance(candidates, StaffedAgents), best and best.agent_id))
        if best is not None:
            snapshot.set_load(best.agent_id, Channel.EMAIL, 1)
    assert [indexed for indexed, _ in winners] == [False] * INDEX_AFTER_MATCHINGS + [True] * 2
    assert [agent for _, agent in winners] == ["a0", "a1", "a2"] + [None] * 7


@st.composite
def blended_agents(draw: Any, number: int) -> Agent:
    """An agent who may also have units, costs per channel and exclusive channels."""
    agent = draw(agents(number))
    if draw(st.booleans()):
        agent.units = draw(st.sampled_from([20, 60, 100]))
        agent.unit_costs = {
            c: draw(st.integers(0, agent.units)) for c in CHANNELS if draw(st.booleans())
        }
    if draw(st.booleans()):
        agent.exclusive_channels = frozenset(draw(st.sets(st.sampled_from(CHANNELS), max_size=2)))
    return agent


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_the_index_ranks_blended_agents_as_a_scan_does(data: Any) -> None:
    roster = [data.draw(blended_agents(n)) for n in range(data.draw(st.integers(0, 80)))]
    index = RosterIndex(roster)
    for step in range(5):
        if roster and step:
            changed = data.draw(st.sampled_from(roster))
            if data.draw(st.booleans()) and changed.capacity:
                channel = data.draw(st.sampled_from(sorted(changed.capacity)))
                index.set_load(changed.agent_id, channel, data.draw(st.integers(0, 3)))
            else:
                replacement = data.draw(blended_agents(int(changed.agent_id.split("-")[1])))
                roster[roster.index(changed)] = replacement
                index.put(replacement)
        _compare(roster, index, data)
