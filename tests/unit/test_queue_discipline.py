"""Queue discipline with a fake clock (no sleeps): routing steps that relax the
requirements as a case waits, aging, choice strategies, relationship preference,
and offers that are accepted, declined or left to lapse."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from tests.builders import agent, contact
from tests.fakes import FakeClock, FakeUnitOfWork
from ticketrouter.domain.cases import Case, CaseStatus, OfferOutcome
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.commands import (
    AcceptOffer,
    AdvanceQueue,
    DeclineOffer,
    ResolveCase,
    SetPresence,
    UpsertAgent,
)
from ticketrouter.domain.decisions import Decision, Outcome
from ticketrouter.domain.errors import ConflictingState
from ticketrouter.domain.events import CaseRouted, HandoffRecorded, OfferEnded
from ticketrouter.domain.matching import queue_order_key
from ticketrouter.domain.plan import ContactFacts, Plan, Step, Strategy
from ticketrouter.domain.requirements import AuthorityNeed, Requirements
from ticketrouter.service_layer.agents import set_presence, upsert_agent
from ticketrouter.service_layer.cases import resolve_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.queue import accept_offer, advance_queue, decline_offer
from ticketrouter.service_layer.settings import RoutingSettings

REFUND = Requirements(
    skills=(("billing", 4),), authority=(AuthorityNeed("refund_limit", at_least=480.0),)
)


@dataclass(frozen=True)
class OnePlan:
    """A policy that gives every contact the same plan."""

    plan: Plan
    version: int = 7
    needs_customer: bool = False
    rule_names: tuple[str, ...] = ("refunds",)

    def plan_for(self, facts: ContactFacts) -> Plan:
        return replace(self.plan, policy_version=self.version)


def settings(plan: Plan, **changes: object) -> RoutingSettings:
    return replace(RoutingSettings(OnePlan(plan)), **changes)  # type: ignore[arg-type]


STEPPED = settings(
    Plan("refunds", REFUND, steps=(Step(30, proficiency_delta=-1), Step(90, drop_language=True)))
)


def _add(uow: FakeUnitOfWork, clock: FakeClock, routing: RoutingSettings, *agents) -> None:  # type: ignore[no-untyped-def]
    with uow:
        for a in agents:
            upsert_agent(UpsertAgent(a), uow, clock.now(), routing)
        uow.commit()


def _route(
    uow: FakeUnitOfWork, clock: FakeClock, routing: RoutingSettings, *commands
) -> list[Decision | None]:  # type: ignore[no-untyped-def]
    with uow:
        decisions = handle_events(list(commands), uow, clock.now(), routing)
        uow.commit()
    return decisions


def _tick(uow: FakeUnitOfWork, clock: FakeClock, routing: RoutingSettings) -> list[Decision]:
    with uow:
        decisions = advance_queue(AdvanceQueue(), uow, clock.now(), routing)
        uow.commit()
    return decisions


def _case(uow: FakeUnitOfWork, case_id: str) -> Case:
    case = uow.repo.get_case(case_id)
    assert case is not None
    return case


def test_a_step_relaxes_proficiency_on_time_but_never_the_authority(uow, clock) -> None:  # type: ignore[no-untyped-def]
    _add(
        uow,
        clock,
        STEPPED,
        agent("capped", {"billing": 5}, {"refund_limit": 300}),
        agent("junior", {"billing": 3}, {"refund_limit": 1000}),
    )
    [queued] = _route(uow, clock, STEPPED, contact(("email", "a@x.com")))
    assert queued is not None and queued.outcome is Outcome.QUEUED
    clock.advance(seconds=29)
    assert _tick(uow, clock, STEPPED) == []  # not due yet
    clock.advance(seconds=1)
    [taken] = _tick(uow, clock, STEPPED)
    assert (taken.outcome, taken.agent_id) == (Outcome.ASSIGNED, "junior")
    assert taken.explanation.step == 1
    assert taken.explanation.requirements.skills == (("billing", 3),)
    assert dict(taken.explanation.excluded_agents) == {"capped": "missing_authority"}
    assert taken.explanation.policy_version == 7
    assert _case(uow, queued.case_id).step == 1


def test_steps_that_find_nobody_keep_the_case_waiting_with_relaxed_requirements(
    uow,  # type: ignore[no-untyped-def]
    clock,
) -> None:
    [queued] = _route(uow, clock, STEPPED, contact(("email", "a@x.com")))
    assert queued is not None
    clock.advance(seconds=95)
    assert _tick(uow, clock, STEPPED) == []
    case = _case(uow, queued.case_id)
    assert case.status is CaseStatus.QUEUED and case.step == 2
    assert case.requirements.skills == (("billing", 3),) and case.requirements.language is None
    # An agent who comes online now pulls it with the relaxed requirements.
    _add(
        uow,
        clock,
        STEPPED,
        agent("late", {"billing": 3}, {"refund_limit": 500}, presence=Presence.OFFLINE),
    )
    with uow:
        set_presence(SetPresence("late", Presence.AVAILABLE), uow, clock.now(), STEPPED)
        uow.commit()
    assert _case(uow, queued.case_id).owner_agent_id == "late"


def test_aging_lets_a_long_wait_overtake_a_higher_priority() -> None:
    clock = FakeClock()
    base = Case(
        "old",
        "c",
        "t",
        "r",
        Requirements(),
        priority=0,
        status=CaseStatus.QUEUED,
        channel=Channel.EMAIL,
        first_channel=Channel.EMAIL,
        opened_at=clock.now(),
        queued_at=clock.now(),
    )
    newer = replace(base, case_id="new", priority=2, queued_at=clock.now() + timedelta(minutes=10))
    assert sorted([base, newer], key=queue_order_key)[0].case_id == "new"  # no aging
    ranked = sorted([base, newer], key=lambda c: queue_order_key(c, aging_per_minute=0.5))
    assert ranked[0].case_id == "old"  # 10 minutes at 0.5/min: 5 levels, more than 2
    slower = sorted([base, newer], key=lambda c: queue_order_key(c, aging_per_minute=0.1))
    assert slower[0].case_id == "new"


@pytest.mark.parametrize(
    ("strategy", "winner"),
    [
        (Strategy.LEAST_OCCUPIED, "idle-free"),
        (Strategy.LONGEST_IDLE, "idle-long"),
        (Strategy.MOST_PROFICIENT, "expert"),
    ],
)
def test_strategies_choose_among_the_eligible(uow, clock, strategy: Strategy, winner: str) -> None:  # type: ignore[no-untyped-def]
    routing = settings(Plan("general", Requirements(skills=(("billing", 2),)), strategy=strategy))
    expert = agent("expert", {"billing": 5}, capacity={"email": 4})
    expert.load[Channel.EMAIL] = 2
    expert.last_assigned_at = clock.now() - timedelta(minutes=1)
    idle_long = agent("idle-long", {"billing": 2}, capacity={"email": 4})
    idle_long.load[Channel.EMAIL] = 3
    idle_long.last_assigned_at = clock.now() - timedelta(hours=3)
    idle_free = agent("idle-free", {"billing": 2}, capacity={"email": 4})
    idle_free.last_assigned_at = clock.now() - timedelta(minutes=5)
    for a in (expert, idle_long, idle_free):
        uow.repo.agents[a.agent_id] = a
    [decision] = _route(uow, clock, routing, contact(("email", "a@x.com")))
    assert decision is not None and decision.agent_id == winner
    assert decision.explanation.strategy == strategy.value


def test_relationship_prefers_the_agent_who_last_resolved_for_this_customer(uow, clock) -> None:  # type: ignore[no-untyped-def]
    routing = settings(Plan("general", Requirements(skills=(("billing", 2),))))
    _add(uow, clock, routing, agent("kim", {"billing": 2}), agent("lee", {"billing": 2}))
    [first] = _route(uow, clock, routing, contact(("email", "a@x.com"), topic="billing.one"))
    assert first is not None and first.agent_id is not None
    with uow:
        resolve_case(ResolveCase(first.case_id), uow, clock.now(), routing)
        uow.commit()
    clock.advance(minutes=5)
    [second] = _route(uow, clock, routing, contact(("email", "a@x.com"), topic="billing.two"))
    assert second is not None and second.agent_id == first.agent_id
    assert "relationship" in second.explanation.winner_reason
    loyal_off = settings(replace(routing.policy.plan, prefer_relationship=False))  # type: ignore[attr-defined]
    with uow:
        resolve_case(ResolveCase(second.case_id), uow, clock.now(), loyal_off)
        uow.commit()
    [third] = _route(uow, clock, loyal_off, contact(("email", "a@x.com"), topic="billing.three"))
    assert third is not None and "relationship" not in third.explanation.winner_reason


OFFERS = settings(
    Plan("general", Requirements(skills=(("billing", 2),))),
    offer_timeout=timedelta(seconds=20),
    max_missed_offers=2,
)


def test_an_offer_is_accepted_by_its_agent_only(uow, clock) -> None:  # type: ignore[no-untyped-def]
    _add(uow, clock, OFFERS, agent("kim", {"billing": 2}))
    [offered] = _route(uow, clock, OFFERS, contact(("email", "a@x.com")))
    assert offered is not None and (offered.outcome, offered.agent_id) == (Outcome.OFFERED, "kim")
    assert uow.repo.agents["kim"].load[Channel.EMAIL] == 1  # the slot is held
    with uow, pytest.raises(ConflictingState):
        accept_offer(AcceptOffer(offered.case_id, "lee"), uow, clock.now(), OFFERS)
    with uow:
        case = accept_offer(AcceptOffer(offered.case_id, "kim"), uow, clock.now(), OFFERS)
        uow.commit()
    assert (case.status, case.owner_agent_id) == (CaseStatus.ASSIGNED, "kim")


def test_a_declined_offer_goes_to_someone_else_at_once_without_a_handoff(uow, clock) -> None:  # type: ignore[no-untyped-def]
    _add(uow, clock, OFFERS, agent("kim", {"billing": 2}), agent("lee", {"billing": 2}))
    [offered] = _route(uow, clock, OFFERS, contact(("email", "a@x.com")))
    assert offered is not None and offered.agent_id is not None
    first = offered.agent_id
    with uow:
        case = decline_offer(
            DeclineOffer(offered.case_id, first, "on a call"), uow, clock.now(), OFFERS
        )
        events = uow.commit()
    [rerouted] = [e.decision for e in events if isinstance(e, CaseRouted)]
    assert rerouted.outcome is Outcome.OFFERED and rerouted.agent_id not in (None, first)
    assert not any(isinstance(e, HandoffRecorded) for e in events)
    assert case.handoff_count == 0 and case.declined_by == (first,)
    assert uow.repo.agents[first].load[Channel.EMAIL] == 0
    assert dict(rerouted.explanation.excluded_agents) == {first: "declined"}


def test_lapsed_offers_reroute_and_repeated_silence_sets_the_agent_away(uow, clock) -> None:  # type: ignore[no-untyped-def]
    _add(uow, clock, OFFERS, agent("kim", {"billing": 2}))
    a, b = _route(
        uow,
        clock,
        OFFERS,
        contact(("email", "a@x.com")),
        contact(("email", "b@x.com")),
    )
    assert a is not None and b is not None and {a.agent_id, b.agent_id} == {"kim"}
    clock.advance(seconds=19)
    assert _tick(uow, clock, OFFERS) == []
    clock.advance(seconds=1)
    lapsed = _tick(uow, clock, OFFERS)
    assert [d.outcome for d in lapsed] == [Outcome.QUEUED, Outcome.QUEUED]  # nobody else
    assert uow.repo.agents["kim"].presence is Presence.AWAY  # two misses in a row
    assert uow.repo.agents["kim"].load[Channel.EMAIL] == 0
    for decision in (a, b):
        case = _case(uow, decision.case_id)
        assert case.status is CaseStatus.QUEUED and case.handoff_count == 0


def test_every_offer_ends_once_with_its_outcome_and_the_time_it_stood(uow, clock) -> None:  # type: ignore[no-untyped-def]
    _add(uow, clock, OFFERS, *(agent(n, {"billing": 2}) for n in ("kim", "lee", "max")))
    offered = [
        d
        for d in _route(uow, clock, OFFERS, *(contact(("email", f"{n}@x.com")) for n in "abc"))
        if d is not None
    ]
    by_agent = {d.agent_id: d.case_id for d in offered}
    ended: list[OfferEnded] = []

    def run(handler, command) -> None:  # type: ignore[no-untyped-def]
        with uow:
            handler(command, uow, clock.now(), OFFERS)
            ended.extend(e for e in uow.commit() if isinstance(e, OfferEnded))

    clock.advance(seconds=4)
    run(accept_offer, AcceptOffer(by_agent["kim"], "kim"))
    clock.advance(seconds=2)
    run(decline_offer, DeclineOffer(by_agent["lee"], "lee", "busy"))  # goes to kim
    clock.advance(seconds=3)
    run(set_presence, SetPresence("max", Presence.OFFLINE))  # max's offer goes to lee
    clock.advance(seconds=20)
    with uow:
        advance_queue(AdvanceQueue(), uow, clock.now(), OFFERS)
        ended.extend(e for e in uow.commit() if isinstance(e, OfferEnded))
    # Nobody answers the offers made at 6 s and 9 s; at 29 s both have lapsed, the
    # older first, each after the time it stood until the tick ended it.
    assert [(e.outcome, e.seconds) for e in ended] == [
        (OfferOutcome.ACCEPTED, 4.0),
        (OfferOutcome.DECLINED, 6.0),
        (OfferOutcome.WITHDRAWN, 9.0),
        (OfferOutcome.LAPSED, 23.0),
        (OfferOutcome.LAPSED, 20.0),
    ]
    assert {e.channel for e in ended} == {Channel.EMAIL}
