"""Routing handlers against in-memory fakes: the semantics, in microseconds."""

from datetime import timedelta

import pytest

from tests.builders import agent, contact, rules
from tests.fakes import FakeClock, FakeUnitOfWork
from ticketrouter.domain.cases import CaseStatus, HandoffReason
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.commands import ResolveCase, SetPresence, TransferCase, UpsertAgent
from ticketrouter.domain.decisions import Outcome
from ticketrouter.domain.errors import ConflictingState, NotFound
from ticketrouter.domain.events import (
    CaseResolved,
    CaseRouted,
    FirstContactRevoked,
    HandoffRecorded,
)
from ticketrouter.domain.identity import normalise_identity
from ticketrouter.service_layer.agents import set_presence, upsert_agent
from ticketrouter.service_layer.cases import resolve_case, transfer_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.settings import RoutingSettings

ANA_EMAIL = ("email", "Ana.Lopez@Example.com")
ANA_PHONE = ("phone", "+1 (415) 555-0100")
ANA_CHAT = ("chat", "@ana")


SETTINGS = RoutingSettings(rules())


def route(uow: FakeUnitOfWork, clock: FakeClock, *commands):  # type: ignore[no-untyped-def]
    with uow:
        decisions = handle_events(list(commands), uow, clock.now(), SETTINGS)
        uow.commit()
    return decisions


def add(uow: FakeUnitOfWork, clock: FakeClock, *agents):  # type: ignore[no-untyped-def]
    for a in agents:
        with uow:
            upsert_agent(UpsertAgent(a), uow, clock.now(), SETTINGS)
            uow.commit()


def test_a_contact_opens_a_case_and_goes_to_an_empowered_agent(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(
        uow,
        clock,
        agent("gen", {"general": 2}),
        agent("bill", {"billing": 4}, {"refund_limit": 500}),
    )
    [decision] = route(
        uow, clock, contact(ANA_EMAIL, topic="billing.refund", attributes={"order_value": 120})
    )
    assert decision.outcome is Outcome.ASSIGNED
    assert decision.agent_id == "bill"
    case = uow.repo.cases[decision.case_id]
    assert (case.status, case.owner_agent_id) == (CaseStatus.ASSIGNED, "bill")
    assert uow.repo.agents["bill"].load[Channel.EMAIL] == 1
    assert decision.explanation.excluded_by_reason == {"missing_skill": 1}


def test_email_then_chat_from_one_person_is_one_customer_and_one_case(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen", capacity={"email": 5, "chat": 5}))
    [first] = route(uow, clock, contact(ANA_EMAIL))
    [second] = route(uow, clock, contact(ANA_CHAT, ANA_EMAIL, channel="chat"))
    assert first.customer_id == second.customer_id
    assert first.case_id == second.case_id
    assert second.outcome is Outcome.REJOINED_CASE and second.agent_id == "gen"
    assert len(uow.repo.customers) == 1 and len(uow.repo.cases) == 1
    case = uow.repo.cases[first.case_id]
    assert case.contact_count == 2 and case.channel is Channel.CHAT
    # the owner's reservation moved from email to chat: nothing leaked
    assert uow.repo.agents["gen"].load == {Channel.EMAIL: 0, Channel.CHAT: 1}


def test_an_event_carrying_two_customers_identities_merges_them(uow, clock) -> None:  # type: ignore[no-untyped-def]
    [a] = route(uow, clock, contact(ANA_EMAIL))
    [b] = route(uow, clock, contact(ANA_PHONE, channel="voice", topic="orders.status"))
    assert a.customer_id != b.customer_id
    [c] = route(uow, clock, contact(ANA_PHONE, ANA_EMAIL, channel="voice", topic="orders.status"))
    survivor = min(a.customer_id, b.customer_id)
    assert c.customer_id == survivor
    assert set(uow.repo.identities.values()) == {survivor}
    assert {case.customer_id for case in uow.repo.cases.values()} == {survivor}
    merges = [(m.survivor_id, m.merged_id, m.event_id, m.actor) for m in uow.repo.merges]
    assert merges == [(survivor, max(a.customer_id, b.customer_id), c.event_id, "router")]


def test_no_eligible_agent_queues_until_one_comes_online(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(
        uow,
        clock,
        agent("junior", {"billing": 2}, {"refund_limit": 1000}),
        agent("capped", {"billing": 5}, {"refund_limit": 100}),
    )
    [decision] = route(
        uow, clock, contact(ANA_EMAIL, topic="billing.refund", attributes={"order_value": 150})
    )
    assert decision.outcome is Outcome.QUEUED
    assert decision.explanation.excluded_by_reason == {"missing_skill": 1, "missing_authority": 1}
    clock.advance(minutes=3)
    add(
        uow,
        clock,
        agent("senior", {"billing": 3}, {"refund_limit": 150}, presence=Presence.OFFLINE),
    )
    assert uow.repo.cases[decision.case_id].status is CaseStatus.QUEUED
    with uow:
        set_presence(SetPresence("senior", Presence.AVAILABLE), uow, clock.now(), SETTINGS)
        events = uow.commit()
    [pulled] = [e.decision for e in events if isinstance(e, CaseRouted)]
    assert (pulled.case_id, pulled.agent_id) == (decision.case_id, "senior")
    assert pulled.decided_at - pulled.event_time == timedelta(minutes=3)


def test_the_same_event_twice_changes_nothing(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen"))
    command = contact(ANA_EMAIL, event_id="once")
    [first] = route(uow, clock, command)
    [again, again_in_batch] = route(uow, clock, command, command)
    assert first is not None and again is None and again_in_batch is None
    assert len(uow.repo.contacts) == 1
    assert uow.repo.agents["gen"].load[Channel.EMAIL] == 1


def test_follow_up_while_owner_is_busy_on_that_channel_stays_with_the_owner(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen", capacity={"email": 5, "voice": 1}))
    route(uow, clock, contact(("email", "someone@else.com"), channel="voice"))
    [first] = route(uow, clock, contact(ANA_EMAIL))
    [call] = route(uow, clock, contact(ANA_EMAIL, channel="voice"))
    assert call.outcome is Outcome.REJOINED_CASE and call.agent_id == "gen"
    assert uow.repo.cases[first.case_id].channel is Channel.EMAIL
    assert uow.repo.cases[first.case_id].handoff_count == 0


def test_follow_up_when_the_owner_went_offline_is_reassigned_and_counted(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen"))
    route(uow, clock, contact(ANA_EMAIL))
    add(uow, clock, agent("other"))
    uow.repo.agents["gen"].presence = Presence.OFFLINE
    with uow:
        [call] = handle_events([contact(ANA_EMAIL, channel="chat")], uow, clock.now(), SETTINGS)
        events = uow.commit()
    assert call.outcome is Outcome.REASSIGNED and call.agent_id == "other"
    assert uow.repo.agents["gen"].load[Channel.EMAIL] == 0
    assert [e.reason for e in events if isinstance(e, HandoffRecorded)] == [HandoffReason.OTHER]


def test_transfer_counts_a_handoff_and_the_case_loses_fcr(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("a1"), agent("a2"))
    [decision] = route(uow, clock, contact(ANA_EMAIL))
    with uow:
        case = transfer_case(
            TransferCase(decision.case_id, HandoffReason.ESCALATION), uow, clock.now(), SETTINGS
        )
        events = uow.commit()
    assert case.handoff_count == 1 and case.owner_agent_id != decision.agent_id
    assert [type(e) for e in events] == [HandoffRecorded, CaseRouted]
    assert uow.repo.agents[decision.agent_id].load[Channel.EMAIL] == 0
    with uow:
        resolved = resolve_case(ResolveCase(case.case_id, "done"), uow, clock.now(), SETTINGS)
        events = uow.commit()
    assert not resolved.first_contact_resolved
    assert events == [CaseResolved(case.case_id, Channel.EMAIL, False, handoffs=1)]


def test_transfer_to_a_named_colleague_requires_them_to_be_empowered(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(
        uow,
        clock,
        agent("a1", {"billing": 4}, {"refund_limit": 500}),
        agent("novice", {"billing": 1}),
    )
    [decision] = route(uow, clock, contact(ANA_EMAIL, topic="billing.refund"))
    with uow, pytest.raises(ConflictingState, match="missing_skill"):
        transfer_case(
            TransferCase(decision.case_id, HandoffReason.OTHER, "novice"),
            uow,
            clock.now(),
            SETTINGS,
        )
    with uow, pytest.raises(NotFound):
        transfer_case(
            TransferCase(decision.case_id, HandoffReason.OTHER, "ghost"), uow, clock.now(), SETTINGS
        )
    assert uow.repo.cases[decision.case_id].handoff_count == 0


def test_resolution_frees_capacity_and_the_agent_pulls_the_next_case(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("solo", capacity={"voice": 1}))
    [first] = route(uow, clock, contact(ANA_PHONE, channel="voice"))
    [second] = route(uow, clock, contact(("phone", "+1 415 555 0199"), channel="voice"))
    assert second.outcome is Outcome.QUEUED
    with uow:
        resolve_case(ResolveCase(first.case_id, "answered"), uow, clock.now(), SETTINGS)
        events = uow.commit()
    assert CaseResolved(first.case_id, Channel.VOICE, True) in events
    assert uow.repo.cases[second.case_id].owner_agent_id == "solo"
    assert uow.repo.agents["solo"].load[Channel.VOICE] == 1


def test_repeat_contact_inside_the_window_reopens_and_revokes_fcr(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen"), agent("other"))
    [first] = route(uow, clock, contact(ANA_EMAIL))
    with uow:
        resolve_case(ResolveCase(first.case_id), uow, clock.now(), SETTINGS)
        uow.commit()
    clock.advance(days=2)
    with uow:
        [again] = handle_events(
            [contact(ANA_PHONE, ANA_EMAIL, channel="voice", at=clock.now())],
            uow,
            clock.now(),
            SETTINGS,
        )
        events = uow.commit()
    assert again.case_id == first.case_id
    assert again.agent_id == first.agent_id  # back to the agent who knows the customer
    assert FirstContactRevoked(first.case_id, Channel.EMAIL) in events
    assert len(uow.repo.cases) == 1


def test_repeat_contact_after_the_window_opens_a_new_case(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen"))
    [first] = route(uow, clock, contact(ANA_EMAIL))
    with uow:
        resolve_case(ResolveCase(first.case_id), uow, clock.now(), SETTINGS)
        uow.commit()
    clock.advance(days=8)
    [again] = route(uow, clock, contact(ANA_EMAIL, at=clock.now()))
    assert again.case_id != first.case_id
    assert uow.repo.cases[first.case_id].first_contact_resolved


def test_a_new_topic_opens_a_second_case(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("gen", {"general": 3, "orders": 3}))
    [a] = route(uow, clock, contact(ANA_EMAIL))
    [b] = route(uow, clock, contact(ANA_EMAIL, topic="orders.status"))
    assert a.case_id != b.case_id and a.customer_id == b.customer_id


def test_messages_surveys_and_customer_updates_attach_to_the_customer(uow, clock) -> None:  # type: ignore[no-untyped-def]
    from ticketrouter.domain.commands import RecordMessage, RecordSurvey, UpdateCustomer

    add(uow, clock, agent("gen"))
    [decision] = route(uow, clock, contact(ANA_EMAIL))
    ana = normalise_identity(*ANA_EMAIL)
    with uow:
        results = handle_events(
            [
                RecordMessage("m1", clock.now(), Channel.EMAIL, decision.case_id, "re:", "more"),
                RecordSurvey("s1", clock.now(), decision.case_id, 5),
                UpdateCustomer("u1", clock.now(), (ana,), "Ana López", "gold", "es"),
            ],
            uow,
            clock.now(),
            SETTINGS,
        )
        uow.commit()
    assert results == [None, None, None]
    case = uow.repo.cases[decision.case_id]
    assert (case.contact_count, case.csat) == (1, 5)  # a message is not a new contact
    assert [c.outcome for c in uow.repo.contacts] == ["assigned", "message"]
    customer = uow.repo.customers[decision.customer_id]
    assert (customer.display_name, customer.tier, customer.language) == ("Ana López", "gold", "es")


def test_events_about_an_unknown_case_are_refused(uow, clock) -> None:  # type: ignore[no-untyped-def]
    from ticketrouter.domain.commands import RecordSurvey

    with uow, pytest.raises(NotFound):
        handle_events([RecordSurvey("s1", clock.now(), "ghost", 3)], uow, clock.now(), SETTINGS)


def test_a_transferred_case_never_bounces_back_to_the_agent_who_gave_it_away(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("only"))
    [decision] = route(uow, clock, contact(ANA_EMAIL))
    with uow:
        case = transfer_case(
            TransferCase(decision.case_id, HandoffReason.MISSING_AUTHORITY),
            uow,
            clock.now(),
            SETTINGS,
        )
        uow.commit()
    assert case.status is CaseStatus.QUEUED
    assert uow.repo.cases[decision.case_id].owner_agent_id is None
    assert uow.repo.agents["only"].load[Channel.EMAIL] == 0


def test_the_summary_names_the_agent_who_actually_got_the_case(uow, clock) -> None:  # type: ignore[no-untyped-def]
    add(uow, clock, agent("first"), agent("second"))
    [decision] = route(uow, clock, contact(ANA_EMAIL))
    with uow:
        resolve_case(ResolveCase(decision.case_id), uow, clock.now(), SETTINGS)
        uow.commit()
    # the previous owner is now the busier one, yet continuity prefers them on a reopen
    uow.repo.agents[decision.agent_id].load[Channel.EMAIL] = 2
    clock.advance(hours=1)
    [again] = route(uow, clock, contact(ANA_EMAIL, at=clock.now()))
    assert again.agent_id == decision.agent_id
    assert again.explanation.summary.startswith(f"{decision.agent_id} ")
