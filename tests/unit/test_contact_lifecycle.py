"""contact.abandoned and contact.ended against the fakes: capacity is held by live
contacts, not by open cases."""

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.builders import agent, contact, rules
from tests.fakes import FakeClock, FakeUnitOfWork
from tests.unit.test_queue_discipline import _tick as tick
from ticketrouter.domain.cases import CaseStatus, OfferOutcome
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.commands import (
    AbandonContact,
    EndContact,
    ReceiveContact,
    ResolveCase,
    UpsertAgent,
)
from ticketrouter.domain.decisions import Decision, Outcome
from ticketrouter.domain.errors import NotFound
from ticketrouter.domain.events import ContactAbandoned, Event, HandoffRecorded, OfferEnded
from ticketrouter.domain.timeline import EntryKind
from ticketrouter.service_layer.agents import upsert_agent
from ticketrouter.service_layer.cases import resolve_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.settings import RoutingSettings

ANA = ("phone", "+1 (415) 555-0100")
BEN = ("phone", "+1 (415) 555-0199")
SETTINGS = RoutingSettings(rules())
WRAP = replace(SETTINGS, wrap_up={Channel.VOICE: timedelta(seconds=30)})
_events = iter(range(1_000_000))


def run(
    uow: FakeUnitOfWork,
    clock: FakeClock,
    *commands: object,
    settings: RoutingSettings = SETTINGS,
) -> tuple[list[Decision | None], list[Event]]:
    with uow:
        results = handle_events(list(commands), uow, clock.now(), settings)  # type: ignore[arg-type]
        return results, uow.commit()


def call(who: tuple[str, str], channel: str = "voice") -> ReceiveContact:
    return contact(who, channel=channel)


def abandoned(contact_id: str, clock: FakeClock) -> AbandonContact:
    return AbandonContact(f"abandon-{next(_events)}", clock.now(), contact_id)


def ended(contact_id: str, clock: FakeClock) -> EndContact:
    return EndContact(f"end-{next(_events)}", clock.now(), contact_id)


def add(uow: FakeUnitOfWork, clock: FakeClock, *agents: object) -> None:
    for a in agents:
        with uow:
            upsert_agent(UpsertAgent(a), uow, clock.now(), SETTINGS)  # type: ignore[arg-type]
            uow.commit()


def solo_takes_one_of_two_calls(
    uow: FakeUnitOfWork, clock: FakeClock, settings: RoutingSettings
) -> tuple[Decision, Decision]:
    """Solo takes Ana's call, Ben's waits; then Ana's call ends."""
    add(uow, clock, agent("solo", capacity={"voice": 1}))
    first, second = call(ANA), call(BEN)
    [taken, waiting], _ = run(uow, clock, first, second, settings=settings)
    assert taken is not None and taken.agent_id == "solo"
    assert waiting is not None and waiting.outcome is Outcome.QUEUED
    run(uow, clock, ended(first.event_id, clock), settings=settings)
    return taken, waiting


def voice_load(uow: FakeUnitOfWork, agent_id: str) -> int:
    return uow.repo.agents[agent_id].load.get(Channel.VOICE, 0)


def test_an_abandoned_queued_call_leaves_the_queue_and_is_never_offered(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    first = call(ANA)
    [queued], _ = run(uow, clock, first)
    assert queued is not None and queued.outcome is Outcome.QUEUED
    clock.advance(seconds=45)
    _, events = run(uow, clock, abandoned(first.event_id, clock))
    case = uow.repo.cases[queued.case_id]
    assert (case.status, case.abandoned_at, case.live_contacts) == (
        CaseStatus.ABANDONED,
        clock.now(),
        (),
    )
    assert events == [ContactAbandoned(Channel.VOICE, 45.0)]
    assert [e.kind for e in uow.repo.entries if e.case_id == case.case_id][-1] is (
        EntryKind.ABANDONED
    )
    add(uow, clock, agent("gen"))  # an agent comes online and pulls what waits
    assert uow.repo.cases[queued.case_id].owner_agent_id is None
    assert voice_load(uow, "gen") == 0
    # the customer calls again: a new case, not the abandoned one
    [again], _ = run(uow, clock, call(ANA))
    assert again is not None and again.case_id != queued.case_id and again.agent_id == "gen"


def test_a_queued_case_with_another_live_contact_keeps_waiting(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    email = contact(ANA, channel="email")
    voice = call(ANA)
    [first, _], _ = run(uow, clock, email, voice)
    assert first is not None and uow.repo.cases[first.case_id].channel is Channel.VOICE
    _, events = run(uow, clock, abandoned(voice.event_id, clock))
    case = uow.repo.cases[first.case_id]
    assert case.status is CaseStatus.QUEUED and case.channel is Channel.EMAIL
    assert events == []


def test_an_abandoned_offer_is_withdrawn_and_the_agent_takes_the_next_call(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    offers = replace(SETTINGS, offer_timeout=timedelta(seconds=20))
    add(uow, clock, agent("gen", capacity={"voice": 1}))
    first, second = call(ANA), call(BEN)
    [offered, waiting], _ = run(uow, clock, first, second, settings=offers)
    assert offered is not None and offered.outcome is Outcome.OFFERED
    assert waiting is not None and waiting.outcome is Outcome.QUEUED
    clock.advance(seconds=5)
    _, events = run(uow, clock, abandoned(first.event_id, clock), settings=offers)
    assert uow.repo.cases[offered.case_id].status is CaseStatus.ABANDONED
    assert OfferEnded(Channel.VOICE, OfferOutcome.WITHDRAWN, 5.0) in events
    assert ContactAbandoned(Channel.VOICE, 5.0) in events
    # the freed slot went to the caller who waited, as an offer
    assert uow.repo.cases[waiting.case_id].status is CaseStatus.OFFERED
    assert uow.repo.cases[waiting.case_id].owner_agent_id == "gen"
    assert voice_load(uow, "gen") == 1


def test_an_ended_call_frees_the_slot_and_the_case_stays_pending_with_its_owner(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    add(uow, clock, agent("gen", capacity={"voice": 1}), agent("other", capacity={"voice": 1}))
    first = call(ANA)
    [taken], _ = run(uow, clock, first)
    assert taken is not None
    owner = taken.agent_id
    assert owner is not None and voice_load(uow, owner) == 1
    run(uow, clock, ended(first.event_id, clock))
    case = uow.repo.cases[taken.case_id]
    assert (case.status, case.owner_agent_id) == (CaseStatus.PENDING, owner)
    assert voice_load(uow, owner) == 0
    # the customer comes back: the case returns to its owner, who is free again
    clock.advance(hours=2)
    [back], _ = run(uow, clock, call(ANA))
    assert back is not None and back.case_id == taken.case_id
    assert (back.outcome, back.agent_id) == (Outcome.REJOINED_CASE, owner)
    assert uow.repo.cases[taken.case_id].status is CaseStatus.ASSIGNED
    assert voice_load(uow, owner) == 1


def test_the_slot_frees_at_once_so_the_owner_takes_the_next_caller_who_waits(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    _, waiting = solo_takes_one_of_two_calls(uow, clock, SETTINGS)
    assert uow.repo.cases[waiting.case_id].owner_agent_id == "solo"
    assert voice_load(uow, "solo") == 1


def test_a_wrap_up_holds_the_slot_until_the_tick_after_it_ends(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    wrap = WRAP
    taken, waiting = solo_takes_one_of_two_calls(uow, clock, wrap)
    assert uow.repo.cases[taken.case_id].status is CaseStatus.PENDING
    assert voice_load(uow, "solo") == 1
    clock.advance(seconds=29)
    assert tick(uow, clock, wrap) == []
    assert uow.repo.cases[waiting.case_id].status is CaseStatus.QUEUED
    clock.advance(seconds=1)
    [pulled] = tick(uow, clock, wrap)
    assert (pulled.case_id, pulled.agent_id) == (waiting.case_id, "solo")
    assert uow.repo.cases[taken.case_id].slot_held_until is None
    assert voice_load(uow, "solo") == 1


def test_a_customer_back_during_the_wrap_up_takes_the_held_slot_again(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    wrap = WRAP
    add(uow, clock, agent("solo", capacity={"voice": 1}))
    first = call(ANA)
    [taken], _ = run(uow, clock, first, settings=wrap)
    run(uow, clock, ended(first.event_id, clock), settings=wrap)
    [back], _ = run(uow, clock, call(ANA), settings=wrap)
    assert taken is not None and back is not None
    assert (back.outcome, back.agent_id) == (Outcome.REJOINED_CASE, "solo")
    assert voice_load(uow, "solo") == 1
    clock.advance(minutes=5)
    tick(uow, clock, wrap)
    assert voice_load(uow, "solo") == 1, "the slot serves the live call, not the old wrap-up"


def test_resolving_a_pending_case_frees_nothing_twice(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    taken, _ = solo_takes_one_of_two_calls(uow, clock, SETTINGS)  # solo now takes Ben
    with uow:
        resolved = resolve_case(ResolveCase(taken.case_id), uow, clock.now(), SETTINGS)
        uow.commit()
    assert resolved.status is CaseStatus.RESOLVED and resolved.first_contact_resolved
    assert voice_load(uow, "solo") == 1, "Ben's call still holds the slot"
    [third], _ = run(uow, clock, call(("phone", "+1 415 555 0142")))
    assert third is not None and third.outcome is Outcome.QUEUED


def test_an_owner_busy_when_the_customer_comes_back_hands_the_case_on(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    add(uow, clock, agent("solo", capacity={"voice": 1}))
    first = call(ANA)
    [taken], _ = run(uow, clock, first)
    run(uow, clock, ended(first.event_id, clock))
    run(uow, clock, call(BEN))  # solo's slot is Ben's now
    add(uow, clock, agent("other", capacity={"voice": 1}))
    [back], events = run(uow, clock, call(ANA))
    assert taken is not None and back is not None and back.case_id == taken.case_id
    assert (back.outcome, back.agent_id) == (Outcome.REASSIGNED, "other")
    assert [type(e) for e in events if isinstance(e, HandoffRecorded)] == [HandoffRecorded]
    assert uow.repo.cases[taken.case_id].handoff_count == 1
    assert voice_load(uow, "solo") == 1 and voice_load(uow, "other") == 1


def test_the_same_end_twice_frees_one_slot(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    add(uow, clock, agent("gen", capacity={"voice": 1, "chat": 2}))
    first, chat = call(ANA), contact(BEN, channel="chat")
    run(uow, clock, first, chat)
    end = ended(first.event_id, clock)
    results, _ = run(uow, clock, end, end)
    assert results == [None, None]
    run(uow, clock, ended(first.event_id, clock))  # another event id, same contact
    assert voice_load(uow, "gen") == 0
    assert uow.repo.agents["gen"].load[Channel.CHAT] == 1


def test_leaving_after_the_agent_answered_ends_the_contact(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    add(uow, clock, agent("gen"))
    first = call(ANA)
    [taken], _ = run(uow, clock, first)
    _, events = run(uow, clock, abandoned(first.event_id, clock))
    assert taken is not None
    assert uow.repo.cases[taken.case_id].status is CaseStatus.PENDING
    assert not [e for e in events if isinstance(e, ContactAbandoned)]
    assert voice_load(uow, "gen") == 0


def test_the_slot_follows_a_live_contact_on_another_channel(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    add(uow, clock, agent("gen", capacity={"voice": 1, "email": 3}))
    email, voice = contact(ANA, channel="email"), call(ANA)
    [first, _], _ = run(uow, clock, email, voice)
    assert first is not None
    assert uow.repo.cases[first.case_id].channel is Channel.VOICE
    run(uow, clock, ended(voice.event_id, clock))
    case = uow.repo.cases[first.case_id]
    assert (case.status, case.channel) == (CaseStatus.ASSIGNED, Channel.EMAIL)
    assert uow.repo.agents["gen"].load == {Channel.VOICE: 0, Channel.EMAIL: 1}


def test_an_unknown_contact_is_named(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    with pytest.raises(NotFound, match="contact 'ghost' not found"):
        run(uow, clock, EndContact("e1", clock.now(), "ghost"))
