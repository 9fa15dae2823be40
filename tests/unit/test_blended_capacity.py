"""Blended capacity: units per agent, a cost per channel and exclusive channels,
on top of the channels' slots, in matching, the roster index and the queue's pull."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.capacity import capacity_limit
from ticketrouter.domain.cases import Case, CaseStatus
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.decisions import Exclusion
from ticketrouter.domain.errors import InvalidField
from ticketrouter.domain.matching import best_case_for, exclusion, rank_agents
from ticketrouter.domain.requirements import Requirements
from ticketrouter.domain.roster import RosterIndex

VOICE, CHAT, EMAIL = Channel.VOICE, Channel.CHAT, Channel.EMAIL
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANYONE = Requirements()


def blended(
    agent_id: str = "ana",
    load: dict[Channel, int] | None = None,
    units: int = 100,
    exclusive: frozenset[Channel] = frozenset(),
    costs: dict[Channel, int] | None = None,
) -> Agent:
    """Slots that allow a call, three chats and five emails at once; units that do not."""
    return Agent(
        agent_id=agent_id,
        name=agent_id.title(),
        team="care",
        skills={},
        authority={},
        languages=frozenset({"en"}),
        capacity={VOICE: 1, CHAT: 6, EMAIL: 5},
        load=dict(load or {}),
        presence=Presence.AVAILABLE,
        units=units,
        unit_costs=costs if costs is not None else {VOICE: 100, CHAT: 20, EMAIL: 10},
        exclusive_channels=exclusive,
    )


def test_units_allow_one_call_or_five_chats_never_both() -> None:
    assert capacity_limit(blended(), VOICE) is None
    assert capacity_limit(blended(load={VOICE: 1}), CHAT) is Exclusion.CAPACITY_UNITS
    assert capacity_limit(blended(load={CHAT: 1}), VOICE) is Exclusion.CAPACITY_UNITS
    assert capacity_limit(blended(load={CHAT: 4}), CHAT) is None
    assert capacity_limit(blended(load={CHAT: 5}), CHAT) is Exclusion.CAPACITY_UNITS
    # A mix that fits: three chats (60) and four emails (40) make 100.
    assert capacity_limit(blended(load={CHAT: 3, EMAIL: 3}), EMAIL) is None
    assert capacity_limit(blended(load={CHAT: 3, EMAIL: 4}), EMAIL) is Exclusion.CAPACITY_UNITS


def test_slots_stay_an_upper_bound_and_are_named_first() -> None:
    roomy = blended(units=1000)
    assert capacity_limit(roomy, VOICE) is None
    roomy.load = {VOICE: 1}
    assert capacity_limit(roomy, VOICE) is Exclusion.CAPACITY
    assert capacity_limit(roomy, CHAT) is None  # 120 of 1,000 units
    assert capacity_limit(blended(load={VOICE: 1}), VOICE) is Exclusion.CAPACITY
    assert capacity_limit(blended(), Channel.SMS) is Exclusion.CAPACITY


def test_a_channel_without_a_cost_counts_only_against_its_slots() -> None:
    agent = blended(load={CHAT: 5}, costs={VOICE: 100, CHAT: 20})
    assert capacity_limit(agent, EMAIL) is None
    agent.load[EMAIL] = 5
    assert capacity_limit(agent, EMAIL) is Exclusion.CAPACITY


def test_an_exclusive_channel_is_never_held_beside_another() -> None:
    # Cheap enough to fit beside chats by units, kept apart by the exclusion.
    costs = {VOICE: 40, CHAT: 20, EMAIL: 10}
    on_call = blended(load={VOICE: 1}, exclusive=frozenset({VOICE}), costs=costs)
    assert capacity_limit(on_call, CHAT) is Exclusion.CAPACITY_EXCLUSIVE
    assert capacity_limit(on_call, EMAIL) is Exclusion.CAPACITY_EXCLUSIVE
    chatting = blended(load={CHAT: 1}, exclusive=frozenset({VOICE}), costs=costs)
    assert capacity_limit(chatting, VOICE) is Exclusion.CAPACITY_EXCLUSIVE
    assert capacity_limit(chatting, EMAIL) is None
    idle = blended(exclusive=frozenset({VOICE}), costs=costs)
    assert capacity_limit(idle, VOICE) is None


def test_exclusive_channels_work_without_units() -> None:
    agent = blended(units=0, costs={}, exclusive=frozenset({VOICE}), load={EMAIL: 2})
    assert capacity_limit(agent, VOICE) is Exclusion.CAPACITY_EXCLUSIVE
    assert capacity_limit(agent, EMAIL) is None


def test_an_agent_without_units_has_slots_alone_as_before() -> None:
    plain = blended(units=0, costs={}, load={VOICE: 1, CHAT: 5, EMAIL: 4})
    assert capacity_limit(plain, CHAT) is None
    assert capacity_limit(plain, EMAIL) is None
    assert plain.occupancy() == pytest.approx(10 / 12)


def test_occupancy_of_a_blended_agent_is_their_share_of_units() -> None:
    assert blended(load={VOICE: 1}).occupancy() == 1.0
    assert blended(load={CHAT: 2}).occupancy() == pytest.approx(0.4)


def test_matching_names_the_limit_and_prefers_the_agent_with_units_to_spare() -> None:
    roster = [
        blended("on-call", load={VOICE: 1}),
        blended("two-chats", load={CHAT: 2}),
        blended("full", load={CHAT: 5}),
        blended("one-chat", load={CHAT: 1}),
    ]
    ranking = rank_agents(ANYONE, CHAT, roster, "r")
    assert ranking.best is not None and ranking.best.agent_id == "one-chat"
    assert ranking.explanation.excluded_by_reason == {"capacity_units": 2}
    assert ranking.explanation.excluded_agents == (
        ("on-call", "capacity_units"),
        ("full", "capacity_units"),
    )
    voice = rank_agents(ANYONE, VOICE, roster, "r")
    assert voice.best is None
    assert voice.explanation.excluded_by_reason == {"capacity": 1, "capacity_units": 3}


def test_the_index_follows_units_as_loads_change() -> None:
    index = RosterIndex([blended("ana"), blended("bo", exclusive=frozenset({EMAIL}))])
    assert _eligible(index, VOICE) == ["ana", "bo"]
    index.set_load("ana", CHAT, 1)
    assert _eligible(index, VOICE) == ["bo"]
    index.set_load("bo", EMAIL, 1)
    assert _eligible(index, CHAT) == ["ana"]
    reasons = rank_agents(ANYONE, CHAT, index.staffed(CHAT), "r").explanation
    assert reasons.excluded_by_reason == {"capacity_exclusive": 1}
    index.set_load("ana", CHAT, 5)
    assert _eligible(index, CHAT) == []
    index.set_load("ana", CHAT, 0)
    index.put(blended("bo", units=0, costs={}))  # no longer blended
    assert _eligible(index, VOICE) == ["ana", "bo"]


def _eligible(index: RosterIndex, channel: Channel) -> list[str]:
    ranking = rank_agents(ANYONE, channel, index.staffed(channel), "r")
    return [agent.agent_id for agent in ranking.eligible]


def test_the_pull_skips_work_the_units_left_cannot_hold() -> None:
    chatting = blended(load={CHAT: 1})
    call, chat = _waiting("c-call", VOICE, 5, T0), _waiting("c-chat", CHAT, 1, T0)
    assert exclusion(chatting, ANYONE, VOICE) is Exclusion.CAPACITY_UNITS
    found = best_case_for(chatting, [call, chat])
    assert found is not None and found.case_id == "c-chat"
    assert best_case_for(blended(load={VOICE: 1}), [call, chat]) is None


def _waiting(case_id: str, channel: Channel, priority: int, at: datetime) -> Case:
    return Case(
        case_id,
        "cust",
        "t",
        "r",
        ANYONE,
        priority,
        CaseStatus.QUEUED,
        channel,
        channel,
        at,
        queued_at=at,
    )


@pytest.mark.parametrize(
    ("units", "costs", "field", "words"),
    [
        (-1, {}, "agent.units", "must be 0..10000"),
        (10_001, {}, "agent.units", "must be 0..10000"),
        (0, {CHAT: 20}, "agent.capacity[chat].cost", "needs agent.units above 0"),
        (100, {VOICE: 150}, "agent.capacity[voice].cost", "no voice contact would ever fit"),
        (100, {CHAT: -5}, "agent.capacity[chat].cost", "must not be negative"),
    ],
)
def test_bad_units_and_costs_are_refused_naming_the_field(
    units: int, costs: dict[Channel, int], field: str, words: str
) -> None:
    with pytest.raises(InvalidField) as refused:
        blended(units=units, costs=costs).validate()
    assert refused.value.field == field
    assert words in str(refused.value)


def test_the_agent_message_carries_units_costs_and_exclusive_channels() -> None:
    from ticketrouter.adapters.grpc_agents import agent_from_proto
    from ticketrouter.adapters.messages import agent_to_proto
    from ticketrouter.v1 import agents_pb2

    message = agents_pb2.Agent(agent_id="ana", units=100)
    message.capacity.add(channel="voice", capacity=1, cost=100, exclusive=True)
    message.capacity.add(channel="chat", capacity=5, cost=20)
    ana = agent_from_proto(message)
    ana.validate()
    assert (ana.units, ana.unit_costs) == (100, {VOICE: 100, CHAT: 20})
    assert ana.exclusive_channels == {VOICE}
    ana.load = {CHAT: 2}
    back = agent_to_proto(ana)
    assert (back.units, back.units_used) == (100, 40)
    assert [(c.channel, c.cost, c.exclusive, c.load) for c in back.capacity] == [
        ("chat", 20, False, 2),
        ("voice", 100, True, 0),
    ]
    message.units = 50
    with pytest.raises(InvalidField) as refused:
        agent_from_proto(message).validate()
    assert refused.value.field == "agent.capacity[voice].cost"
