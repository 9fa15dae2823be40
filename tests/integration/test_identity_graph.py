"""The identity graph on fake, SQLite and PostgreSQL: merges lose nothing and are
recorded, strong identifiers never auto-merge, manual corrections are audited, and
every decision carries a bounded context packet."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.builders import agent, contact, rules
from tests.integration.conftest import UowFactory
from ticketrouter.adapters.database import Database, is_transient
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.domain.commands import (
    AddNote,
    EventCommand,
    LinkIdentity,
    MergeCustomers,
    RecordSurvey,
    ResolveCase,
    UnlinkIdentity,
    UpdateCustomer,
)
from ticketrouter.domain.context import ContextLimits
from ticketrouter.domain.customers import Offer
from ticketrouter.domain.decisions import Decision
from ticketrouter.domain.errors import ConflictingState, NotFound
from ticketrouter.domain.events import CaseRouted, CustomersMerged, IdentityConflictReported
from ticketrouter.domain.identity import IdentityKind, normalise_identity
from ticketrouter.domain.merging import IdentityPolicy
from ticketrouter.domain.timeline import EntryKind
from ticketrouter.service_layer.cases import add_note, resolve_case
from ticketrouter.service_layer.identities import link_identity, merge_customers, unlink_identity
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.settings import RoutingSettings

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SETTINGS = RoutingSettings(rules())
ANA_EMAIL = ("email", "Ana.Lopez@Example.com")
ANA_PHONE = ("phone", "+1 (415) 555-0100")


def _apply(uow_factory: UowFactory, *commands: EventCommand) -> list[Decision | None]:
    with uow_factory() as uow:
        decisions = handle_events(commands, uow, T0, SETTINGS)
        uow.commit()
    return decisions


def _profile_update(
    event_id: str, *identities: tuple[str, str], offers: tuple[Offer, ...] = ()
) -> UpdateCustomer:
    return UpdateCustomer(
        event_id,
        T0,
        tuple(normalise_identity(k, v) for k, v in identities),
        tier="gold",
        offers=offers,
    )


def _holdings(uow_factory: UowFactory, customer_id: str) -> dict[str, int]:
    """Everything a customer owns, counted."""
    with uow_factory() as uow:
        repo = uow.repo
        customer = repo.get_customer(customer_id)
        assert customer is not None
        entries = repo.timeline(customer_id, 1000).entries
        packet = repo.context_packets([customer_id], ContextLimits(cases=50, notes=50), T0)
        return {
            "identities": len(customer.identities),
            "contacts": len(repo.recent_contacts(customer_id, 1000)),
            "cases": len(packet[customer_id].open_cases + packet[customer_id].previous_cases),
            "notes": sum(e.kind is EntryKind.NOTE for e in entries),
            "csat": sum(e.kind is EntryKind.CSAT for e in entries),
            "offers": len(packet[customer_id].offers),
        }


def test_two_customers_linked_by_one_event_merge_with_nothing_lost(
    uow_factory: UowFactory,
) -> None:
    a, b = _apply(
        uow_factory,
        contact(ANA_EMAIL, topic="billing.refund"),
        contact(ANA_PHONE, channel="voice", topic="orders.status"),
    )
    assert a is not None and b is not None and a.customer_id != b.customer_id
    with uow_factory() as uow:
        add_note(AddNote(a.case_id, "kim", "prefers email"), uow, T0, SETTINGS)
        add_note(AddNote(b.case_id, "lee", "called twice"), uow, T0, SETTINGS)
        uow.commit()
    _apply(
        uow_factory,
        RecordSurvey("survey-1", T0, b.case_id, 4),
        _profile_update("profile-1", ANA_PHONE, offers=(Offer("FREESHIP", "free shipping"),)),
    )
    before = [_holdings(uow_factory, a.customer_id), _holdings(uow_factory, b.customer_id)]

    linking = contact(ANA_EMAIL, ANA_PHONE, channel="chat", topic="orders.status")
    [c] = _apply(uow_factory, linking)

    survivor, merged = sorted([a.customer_id, b.customer_id])
    assert c is not None and c.customer_id == survivor
    after = _holdings(uow_factory, survivor)
    expected = {k: before[0][k] + before[1][k] for k in before[0]}
    expected["contacts"] += 1  # the linking contact itself (it joined the open case)
    assert after == expected
    with uow_factory() as uow:
        [record] = uow.repo.merges_into(survivor)
        assert (record.merged_id, record.event_id, record.actor) == (
            merged,
            linking.event_id,
            "router",
        )
        alias = uow.repo.get_customer(merged)
        assert alias is not None and alias.merged_into == survivor
        survivor_row = uow.repo.get_customer(survivor)
        assert survivor_row is not None and survivor_row.tier == "gold"  # kept from B
        kinds = [e.kind for e in uow.repo.timeline(survivor, 1000).entries]
        assert kinds.count(EntryKind.MERGED) == 1

    # The same event again (at-least-once delivery) changes nothing.
    assert _apply(uow_factory, linking) == [None]
    assert _holdings(uow_factory, survivor) == after
    with uow_factory() as uow:
        assert len(uow.repo.merges_into(survivor)) == 1


def test_different_account_ids_never_auto_merge_and_the_conflict_is_reported(
    uow_factory: UowFactory,
) -> None:
    a, b = _apply(
        uow_factory,
        contact(ANA_EMAIL, ("account", "ACC-1")),
        contact(ANA_PHONE, ("account", "ACC-2"), channel="voice"),
    )
    assert a is not None and b is not None
    with uow_factory() as uow:
        [c] = handle_events(
            [contact(ANA_EMAIL, ANA_PHONE, event_id="shared-evt")], uow, T0, SETTINGS
        )
        events = uow.commit()
    assert any(isinstance(e, IdentityConflictReported) for e in events)
    assert not any(isinstance(e, CustomersMerged) for e in events)
    assert c is not None and c.customer_id in {a.customer_id, b.customer_id}
    with uow_factory() as uow:
        for customer_id in (a.customer_id, b.customer_id):
            customer = uow.repo.get_customer(customer_id)
            assert customer is not None and customer.merged_into is None
            assert len(customer.identities) == 2
            [conflict] = uow.repo.conflicts_of(customer_id, 10)
            assert conflict.event_id == "shared-evt"
            assert set(conflict.customer_ids) == {a.customer_id, b.customer_id}
        assert uow.repo.merges_into(a.customer_id) == []


def test_a_second_account_id_is_not_linked_to_a_customer_who_has_one(
    uow_factory: UowFactory,
) -> None:
    [a] = _apply(uow_factory, contact(ANA_EMAIL, ("account", "ACC-1")))
    [b] = _apply(uow_factory, contact(ANA_EMAIL, ("account", "ACC-9")))
    assert a is not None and b is not None and b.customer_id == a.customer_id
    with uow_factory() as uow:
        customer = uow.repo.get_customer(a.customer_id)
        assert customer is not None
        accounts = [i.value for i in customer.identities if i.kind is IdentityKind.ACCOUNT]
        assert accounts == ["ACC-1"]
        assert len(uow.repo.conflicts_of(a.customer_id, 10)) == 1


def test_a_shared_identifier_kind_finds_its_customer_but_never_merges(
    uow_factory: UowFactory,
) -> None:
    settings = replace(
        SETTINGS, identities=IdentityPolicy(never_merge=frozenset({IdentityKind.PHONE}))
    )
    family_phone = ("phone", "+1 415 555 0199")
    with uow_factory() as uow:
        mum, son = handle_events(
            [contact(("email", "mum@x.com"), family_phone), contact(("email", "son@x.com"))],
            uow,
            T0,
            settings,
        )
        [again] = handle_events([contact(("email", "son@x.com"), family_phone)], uow, T0, settings)
        [phone_only] = handle_events([contact(family_phone, channel="voice")], uow, T0, settings)
        uow.commit()
    assert mum is not None and son is not None and again is not None and phone_only is not None
    assert again.customer_id == son.customer_id != mum.customer_id
    assert phone_only.customer_id == mum.customer_id  # the phone's first owner keeps it
    with uow_factory() as uow:
        assert uow.repo.merges_into(mum.customer_id) == []
        assert uow.repo.merges_into(son.customer_id) == []


def test_manual_link_unlink_and_merge_are_audited_and_guarded(uow_factory: UowFactory) -> None:
    a, b = _apply(
        uow_factory,
        contact(ANA_EMAIL, ("account", "ACC-1")),
        contact(ANA_PHONE, ("account", "ACC-2"), channel="voice"),
    )
    assert a is not None and b is not None
    chat = normalise_identity("chat", "@ana_l")
    phone = normalise_identity(*ANA_PHONE)
    with uow_factory() as uow:
        linked = link_identity(
            LinkIdentity(a.customer_id, chat, "ops-1", "ticket 7"), uow, T0, SETTINGS
        )
        assert chat in linked.identities
        # Idempotent, and an identity owned elsewhere is refused rather than stolen.
        link_identity(LinkIdentity(a.customer_id, chat, "ops-1"), uow, T0, SETTINGS)
        with pytest.raises(ConflictingState, match=b.customer_id):
            link_identity(LinkIdentity(a.customer_id, phone, "ops-1"), uow, T0, SETTINGS)
        with pytest.raises(ConflictingState, match="account"):
            acc = normalise_identity("account", "ACC-3")
            link_identity(LinkIdentity(a.customer_id, acc, "ops-1"), uow, T0, SETTINGS)
        unlinked = unlink_identity(UnlinkIdentity(a.customer_id, chat, "ops-2"), uow, T0, SETTINGS)
        assert chat not in unlinked.identities
        with pytest.raises(NotFound):
            unlink_identity(UnlinkIdentity(a.customer_id, chat, "ops-2"), uow, T0, SETTINGS)
        # An operator may merge across account ids: they looked.
        command = MergeCustomers(a.customer_id, b.customer_id, "ops-3", "same person, two accounts")
        merged = merge_customers(command, uow, T0, SETTINGS)
        assert {i.value for i in merged.identities} >= {"ACC-1", "ACC-2"}
        assert merge_customers(command, uow, T0, SETTINGS).customer_id == a.customer_id
        with pytest.raises(ConflictingState, match="merged into"):
            merge_customers(
                MergeCustomers(b.customer_id, a.customer_id, "ops-3"), uow, T0, SETTINGS
            )
        events = uow.commit()
    assert sum(isinstance(e, CustomersMerged) and e.manual for e in events) == 1
    with uow_factory() as uow:
        [record] = uow.repo.merges_into(a.customer_id)
        assert (record.actor, record.reason, record.event_id) == (
            "ops-3",
            "same person, two accounts",
            "",
        )
        audit = [
            e.detail
            for e in uow.repo.timeline(a.customer_id, 100).entries
            if e.kind in (EntryKind.LINKED, EntryKind.UNLINKED, EntryKind.MERGED)
        ]
        assert len(audit) == 3
        assert "by ops-1: ticket 7" in audit[0] and "by ops-2" in audit[1]


def test_every_decision_carries_a_bounded_context_packet(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.repo.upsert_agent(agent("kim", {"billing": 5, "orders": 5, "general": 5}))
        uow.commit()
    limits = ContextLimits()
    topics = [f"general.topic{n}" for n in range(limits.cases + 3)]
    for n, topic in enumerate(topics):
        at = T0 + timedelta(minutes=n)
        with uow_factory() as uow:
            [d] = handle_events([contact(ANA_EMAIL, topic=topic, at=at)], uow, at, SETTINGS)
            assert d is not None and d.agent_id == "kim"
            add_note(AddNote(d.case_id, "kim", f"note {n} " + "x" * 500), uow, at, SETTINGS)
            resolve_case(ResolveCase(d.case_id, "refunded"), uow, at, SETTINGS)
            uow.commit()
    expired = Offer("OLD", "gone", T0 - timedelta(days=1))
    _apply(
        uow_factory,
        _profile_update("offers", ANA_EMAIL, offers=(expired, Offer("VIP10", "10% off"))),
    )
    later = T0 + timedelta(hours=1)
    with uow_factory() as uow:
        [decision] = handle_events(
            [contact(ANA_EMAIL, ANA_PHONE, topic="billing.refund", at=later)], uow, later, SETTINGS
        )
        [routed] = [e.decision for e in uow.commit() if isinstance(e, CaseRouted)]
    assert decision is not None
    packet = routed.context
    assert packet is not None and packet.customer_id == decision.customer_id
    assert packet.tier == "gold"
    assert [c.case_id for c in packet.open_cases] == [decision.case_id]
    assert len(packet.previous_cases) == limits.cases
    assert packet.previous_cases[0].topic == topics[-1]  # most recent first
    assert {c.resolution_code for c in packet.previous_cases} == {"refunded"}
    assert packet.last_agent is not None and packet.last_agent.agent_id == "kim"
    assert len(packet.recent_contacts) == limits.contacts
    assert packet.recent_contacts[0].event_id != ""
    assert len(packet.notes) == limits.notes
    assert all(len(n.text) <= limits.text_chars for n in packet.notes)
    assert [o.code for o in packet.offers] == ["VIP10"]


def test_concurrent_overlapping_merges_leave_one_customer_and_no_orphans(
    database: Database,
) -> None:
    """Two routers link A+B and B+C at the same moment: whatever the interleaving (and
    the retries it forces), the three end as one customer that owns everything."""
    rounds = 8
    with SqlUnitOfWork(database.writer) as uow:
        seeded = handle_events(
            [contact(("email", f"{who}{n}@x.com")) for n in range(rounds) for who in "abc"],
            uow,
            T0,
            SETTINGS,
        )
        uow.commit()
    assert all(d is not None for d in seeded)

    def link(first: str, second: str, barrier: threading.Barrier) -> None:
        barrier.wait()
        command = contact(("email", first), ("email", second))
        for _ in range(20):  # as the message bus does: retry the whole unit
            try:
                with SqlUnitOfWork(database.writer) as uow:
                    handle_events([command], uow, T0, SETTINGS)
                    uow.commit()
                return
            except Exception as err:
                if not is_transient(err):
                    raise
        raise AssertionError("never committed")

    for n in range(rounds):
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=link, args=(f"a{n}@x.com", f"b{n}@x.com", barrier)),
            threading.Thread(target=link, args=(f"b{n}@x.com", f"c{n}@x.com", barrier)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    with SqlUnitOfWork(database.reader) as uow:
        for n in range(rounds):
            emails = [normalise_identity("email", f"{who}{n}@x.com") for who in "abc"]
            owners = set(uow.repo.owners_of(emails).values())
            assert len(owners) == 1, f"round {n}: identities split over {owners}"
            [owner] = owners
            customer = uow.repo.get_customer(owner)
            assert customer is not None and customer.merged_into is None
            assert len(uow.repo.recent_contacts(owner, 10)) == 5
            assert len(uow.repo.merges_into(owner)) == 2
