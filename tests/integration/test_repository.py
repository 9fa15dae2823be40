"""The SQL repository and unit of work on SQLite and PostgreSQL, plus the same
contract checks against the in-memory fake so the fake stays honest."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.builders import agent, contact, rules
from tests.integration.conftest import UowFactory
from ticketrouter.adapters.codec import encode_decision
from ticketrouter.adapters.database import Database
from ticketrouter.adapters.orm import OutboxRow
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.domain.cases import HandoffReason
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.commands import (
    AddNote,
    RecordMessage,
    RecordSurvey,
    ResolveCase,
    TransferCase,
)
from ticketrouter.domain.timeline import EntryKind, TimelineEntry
from ticketrouter.service_layer.cases import add_note, resolve_case, transfer_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.ports import ConcurrentUpdate, SlotTaken
from ticketrouter.service_layer.settings import RoutingSettings

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SETTINGS = RoutingSettings(rules())


def _seed(uow_factory: UowFactory, *agents) -> None:  # type: ignore[no-untyped-def]
    with uow_factory() as uow:
        for a in agents:
            uow.repo.upsert_agent(a)
        uow.commit()


def test_agent_round_trip_keeps_profile_and_never_touches_load(uow_factory: UowFactory) -> None:
    _seed(
        uow_factory,
        agent(
            "ana",
            {"billing": 4},
            {"refund_limit": 250, "can_waive_fees": 1},
            languages=("en", "es"),
            capacity={"chat": 2},
            team="billing",
        ),
    )
    with uow_factory() as uow:
        assert uow.repo.reserve_capacity("ana", Channel.CHAT, T0)
        uow.commit()
    _seed(uow_factory, agent("ana", {"billing": 5}, capacity={"chat": 3}))
    with uow_factory() as uow:
        stored = uow.repo.get_agent("ana")
    assert stored is not None
    assert stored.skills == {"billing": 5}
    assert stored.capacity == {Channel.CHAT: 3}
    assert stored.load.get(Channel.CHAT) == 1
    assert stored.last_assigned_at == T0


def test_capacity_is_reserved_up_to_the_limit_and_only_when_available(
    uow_factory: UowFactory,
) -> None:
    _seed(
        uow_factory,
        agent("ana", capacity={"voice": 1}),
        agent("away", capacity={"voice": 1}, presence=Presence.AWAY),
    )
    with uow_factory() as uow:
        assert uow.repo.reserve_capacity("ana", Channel.VOICE, T0)
        assert not uow.repo.reserve_capacity("ana", Channel.VOICE, T0)
        assert not uow.repo.reserve_capacity("ana", Channel.CHAT, T0)
        assert not uow.repo.reserve_capacity("away", Channel.VOICE, T0)
        uow.repo.release_capacity("ana", Channel.VOICE)
        assert uow.repo.reserve_capacity("ana", Channel.VOICE, T0)
        uow.commit()


def test_a_stale_case_cannot_overwrite_a_newer_one(uow_factory: UowFactory) -> None:
    _seed(uow_factory, agent("gen"))
    with uow_factory() as uow:
        [decision] = handle_events([contact(("email", "a@b.com"))], uow, T0, SETTINGS)
        uow.commit()
    with uow_factory() as uow:
        stale = uow.repo.get_case(decision.case_id)
    with uow_factory() as uow:
        fresh = uow.repo.get_case(decision.case_id)
        assert fresh is not None
        fresh.contact_count += 1
        uow.repo.save_case(fresh)
        uow.commit()
    assert stale is not None
    stale.resolution_code = "stale"
    with uow_factory() as uow, pytest.raises(ConcurrentUpdate):
        uow.repo.save_case(stale)
        uow.commit()


def test_routing_round_trip_through_the_database(uow_factory: UowFactory) -> None:
    _seed(uow_factory, agent("gen", capacity={"email": 2, "chat": 2}))
    with uow_factory() as uow:
        first, again = handle_events(
            [
                contact(("email", "Ana@X.com"), event_id="e1"),
                contact(("email", "ana@x.com"), ("chat", "@ana"), channel="chat", event_id="e2"),
            ],
            uow,
            T0,
            SETTINGS,
        )
        uow.commit()
    with uow_factory() as uow:
        [duplicate] = handle_events(
            [contact(("email", "ana@x.com"), event_id="e1")], uow, T0, SETTINGS
        )
        uow.commit()
    assert duplicate is None
    assert first is not None and again is not None and again.case_id == first.case_id
    with uow_factory() as uow:
        case = uow.repo.get_case(first.case_id)
        customer = uow.repo.get_customer(first.customer_id)
        contacts = uow.repo.recent_contacts(first.customer_id, 10)
        gen = uow.repo.get_agent("gen")
    assert case is not None and case.contact_count == 2 and case.channel is Channel.CHAT
    assert case.last_decision is not None and case.last_decision.rule == "default"
    assert customer is not None
    assert sorted(str(i) for i in customer.identities) == ["chat:ana", "email:ana@x.com"]
    assert [c.event_id for c in contacts] and {c.event_id for c in contacts} == {"e1", "e2"}
    assert gen is not None and gen.load == {Channel.EMAIL: 0, Channel.CHAT: 1}
    with uow_factory() as uow:
        resolve_case(ResolveCase(first.case_id), uow, T0, SETTINGS)
        uow.commit()
    with uow_factory() as uow:
        resolved = uow.repo.get_case(first.case_id)
        assert resolved is not None and resolved.resolved_at == T0
        assert uow.repo.open_case_ids(first.customer_id) == []


def test_merging_customers_moves_every_identity_case_and_contact(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        a, b = handle_events(
            [
                contact(("email", "a@x.com")),
                contact(("phone", "+1 415 555 0100"), topic="orders.status"),
            ],
            uow,
            T0,
            SETTINGS,
        )
        uow.commit()
    assert a is not None and b is not None
    with uow_factory() as uow:
        [c] = handle_events(
            [contact(("email", "a@x.com"), ("phone", "+14155550100"))], uow, T0, SETTINGS
        )
        uow.commit()
    survivor = min(a.customer_id, b.customer_id)
    assert c is not None and c.customer_id == survivor
    with uow_factory() as uow:
        assert len(uow.repo.recent_contacts(survivor, 10)) == 3
        assert len(uow.repo.open_case_ids(survivor)) == 2
        merged = max(a.customer_id, b.customer_id)
        assert uow.repo.recent_contacts(merged, 10) == []
        customer = uow.repo.get_customer(survivor)
        assert customer is not None and len(customer.identities) == 2


def test_decisions_reach_the_outbox_in_the_same_transaction(database: Database) -> None:
    with SqlUnitOfWork(database.writer, encode_decision) as uow:
        handle_events([contact(("email", "a@x.com"))], uow, T0, SETTINGS)
        # not committed: nothing may be visible
    with SqlUnitOfWork(database.writer, encode_decision) as uow:
        count = uow.repo.session.execute(select(func.count()).select_from(OutboxRow)).scalar()
        assert count == 0
        handle_events([contact(("email", "a@x.com"))], uow, T0, SETTINGS)
        uow.commit()
    with SqlUnitOfWork(database.writer) as uow:
        count = uow.repo.session.execute(select(func.count()).select_from(OutboxRow)).scalar()
        assert count == 1
        assert uow.repo.processed_among(["evt-x"]) == set()


def test_concurrent_reservations_never_exceed_capacity(database: Database) -> None:
    with SqlUnitOfWork(database.writer) as uow:
        uow.repo.upsert_agent(agent("ana", capacity={"chat": 3}))
        uow.commit()
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        with SqlUnitOfWork(database.writer) as uow:
            won = uow.repo.reserve_capacity("ana", Channel.CHAT, T0)
            try:
                uow.commit()
            except SlotTaken:  # PostgreSQL: the others took the slots since the roster
                won = False
        wins.append(won)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 3
    with SqlUnitOfWork(database.reader) as uow:
        stored = uow.repo.get_agent("ana")
    assert stored is not None and stored.load[Channel.CHAT] == 3


def test_one_batch_can_touch_the_same_case_and_customer_many_times(
    uow_factory: UowFactory,
) -> None:
    """Batches hold many events of one customer: every later event must see the
    effects of the earlier ones, whatever the repository caches for the batch."""
    _seed(uow_factory, agent("gen", capacity={"email": 5, "chat": 5, "voice": 2}))
    with uow_factory() as uow:
        [first] = handle_events([contact(("email", "a@x.com"), event_id="b0")], uow, T0, SETTINGS)
        uow.commit()
    assert first is not None
    with uow_factory() as uow:
        results = handle_events(
            [
                RecordSurvey("b1", T0, first.case_id, 4),
                contact(("email", "a@x.com"), channel="chat", event_id="b2"),
                contact(
                    ("phone", "+1 415 555 0100"),
                    channel="voice",
                    event_id="b3",
                    topic="orders.status",
                ),
                # links the phone customer to a@x.com: a merge inside the batch
                contact(
                    ("phone", "+1 415 555 0100"),
                    ("email", "a@x.com"),
                    channel="voice",
                    event_id="b4",
                ),
                RecordMessage("b5", T0, Channel.CHAT, first.case_id, "", "and another thing"),
                contact(("email", "new@x.com"), event_id="b6"),
                contact(("email", "NEW@x.com"), channel="chat", event_id="b7"),
            ],
            uow,
            T0,
            SETTINGS,
        )
        uow.commit()
    _, b2, b3, b4, _, b6, b7 = results
    assert b2 is not None and b2.case_id == first.case_id
    assert b3 is not None and b4 is not None and b4.case_id == first.case_id
    assert b6 is not None and b7 is not None and b6.case_id == b7.case_id
    with uow_factory() as uow:
        case = uow.repo.get_case(first.case_id)
        survivor = min(first.customer_id, b3.customer_id)
        assert case is not None
        assert (case.csat, case.contact_count, case.customer_id) == (4, 3, survivor)
        assert len(uow.repo.recent_contacts(survivor, 20)) == 5


def test_timeline_pages_return_every_entry_exactly_once(uow_factory: UowFactory) -> None:
    at = [T0, T0, T0 + timedelta(seconds=1), T0 - timedelta(days=1)]  # ties and late arrivals
    with uow_factory() as uow:
        for n in range(23):
            uow.repo.record(
                TimelineEntry(
                    "cust",
                    at[n % 4],
                    EntryKind.CONTACT,
                    f"case{n}",
                    "email" if n % 2 else "chat",
                    f"entry {n}",
                )
            )
        uow.repo.record(TimelineEntry("someone-else", T0, EntryKind.NOTE, detail="not mine"))
        uow.commit()
    seen: list[str] = []
    after = None
    with uow_factory() as uow:
        while True:
            page = uow.repo.timeline("cust", 5, after)
            seen += [e.detail for e in page.entries]
            if page.next_cursor is None:
                break
            after = page.next_cursor
        times = [e.at for e in uow.repo.timeline("cust", 100).entries]
        chats = uow.repo.timeline("cust", 100, channel="chat").entries
        notes = uow.repo.timeline("cust", 100, kinds=frozenset({EntryKind.NOTE})).entries
    assert sorted(seen) == sorted(f"entry {n}" for n in range(23))
    assert len(seen) == len(set(seen)) == 23
    assert times == sorted(times)
    assert {e.channel for e in chats} == {"chat"} and len(chats) == 12
    assert notes == []


def test_routing_writes_the_customers_timeline(uow_factory: UowFactory) -> None:
    _seed(uow_factory, agent("a1"), agent("a2"))
    with uow_factory() as uow:
        [decision] = handle_events(
            [contact(("email", "t@x.com"), event_id="t1")], uow, T0, SETTINGS
        )
        uow.commit()
    assert decision is not None
    with uow_factory() as uow:
        transfer_case(TransferCase(decision.case_id, HandoffReason.ESCALATION), uow, T0, SETTINGS)
        uow.commit()
    with uow_factory() as uow:
        add_note(AddNote(decision.case_id, "a2", "refund promised"), uow, T0, SETTINGS)
        resolve_case(ResolveCase(decision.case_id, "refunded"), uow, T0, SETTINGS)
        uow.commit()
    with uow_factory() as uow:
        kinds = [e.kind for e in uow.repo.timeline(decision.customer_id, 50).entries]
    assert kinds == [EntryKind.CONTACT, EntryKind.HANDOFF, EntryKind.NOTE, EntryKind.RESOLVED]

    # One case's route, among the customer's other cases.
    with uow_factory() as uow:
        [other] = handle_events(
            [contact(("email", "t@x.com"), topic="orders.other", event_id="t2")], uow, T0, SETTINGS
        )
        uow.commit()
    assert other is not None and other.case_id != decision.case_id
    with uow_factory() as uow:
        first = uow.repo.timeline(decision.customer_id, 50, case_id=decision.case_id).entries
        second = uow.repo.timeline(decision.customer_id, 50, case_id=other.case_id).entries
    assert [e.kind for e in first] == kinds
    assert [(e.kind, e.case_id) for e in second] == [(EntryKind.CONTACT, other.case_id)]
