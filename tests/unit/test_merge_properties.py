"""Properties of the identity graph over any sequence of events (hypothesis):

- no identity is owned by two customers, and none by a customer merged away;
- nothing is lost: every contact event is one contact of a live customer;
- merging is idempotent (redelivering every event changes nothing) and, without
  guards, order-independent: the customers are exactly the connected components of
  the identities seen together, whatever the order of arrival;
- with strong identifiers, no live customer ever holds two of a kind.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import rules
from tests.fakes import FakeRepository, FakeUnitOfWork
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.commands import ReceiveContact
from ticketrouter.domain.identity import Identity, IdentityKind
from ticketrouter.domain.merging import IdentityPolicy
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.settings import RoutingSettings

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
POOL = [Identity(IdentityKind.EMAIL, f"p{n}@x.com") for n in range(5)] + [
    Identity(IdentityKind.PHONE, f"+1415555010{n}") for n in range(4)
]
ACCOUNTS = [Identity(IdentityKind.ACCOUNT, f"ACC-{n}") for n in range(3)]
NO_GUARDS = RoutingSettings(rules(), identities=IdentityPolicy(one_per_customer=frozenset()))
GUARDED = RoutingSettings(rules())

identity_sets = st.lists(st.sets(st.sampled_from(POOL), min_size=1, max_size=3), max_size=12)
guarded_sets = st.lists(
    st.sets(st.sampled_from(POOL + ACCOUNTS), min_size=1, max_size=3), max_size=12
)


def _events(sets: list[set[Identity]]) -> list[ReceiveContact]:
    return [
        ReceiveContact(
            f"evt-{n}",
            T0,
            Channel.EMAIL,
            tuple(sorted(ids, key=str)),
            "general.question",
        )
        for n, ids in enumerate(sets)
    ]


def _run(events: list[ReceiveContact], routing: RoutingSettings) -> FakeRepository:
    repo = FakeRepository()
    for event in events:  # one event per transaction, as a slow trickle would arrive
        with FakeUnitOfWork(repo) as uow:
            handle_events([event], uow, T0, routing)
            uow.commit()
    return repo


def _partition(repo: FakeRepository) -> frozenset[frozenset[Identity]]:
    groups: dict[str, set[Identity]] = {}
    for identity, owner in repo.identities.items():
        groups.setdefault(owner, set()).add(identity)
    return frozenset(frozenset(g) for g in groups.values())


def _components(sets: list[set[Identity]]) -> frozenset[frozenset[Identity]]:
    """The oracle: union-find over identities seen on one event."""
    parent: dict[Identity, Identity] = {}

    def find(i: Identity) -> Identity:
        parent.setdefault(i, i)
        while parent[i] != i:
            i = parent[i]
        return i

    for ids in sets:
        first, *rest = list(ids)
        for other in rest:
            parent[find(other)] = find(first)
        find(first)
    groups: dict[Identity, set[Identity]] = {}
    for i in list(parent):
        groups.setdefault(find(i), set()).add(i)
    return frozenset(frozenset(g) for g in groups.values())


def _state(repo: FakeRepository) -> tuple[object, ...]:
    """Everything an event could change, to compare before and after."""
    return (
        dict(repo.identities),
        len(repo.contacts),
        len(repo.cases),
        len(repo.merges),
        len(repo.conflicts),
        len(repo.entries),
    )


def _assert_consistent(repo: FakeRepository, events: list[ReceiveContact]) -> None:
    live = {c for c, customer in repo.customers.items() if customer.merged_into is None}
    assert set(repo.identities.values()) <= live  # nobody owns through a merged id
    assert {c.customer_id for c in repo.contacts} <= live
    assert {c.customer_id for c in repo.cases.values()} <= live
    assert sorted(c.event_id for c in repo.contacts) == sorted(e.event_id for e in events)


@settings(max_examples=150, deadline=None)
@given(identity_sets, st.randoms(use_true_random=False))
def test_customers_are_the_connected_components_whatever_the_order(
    sets: list[set[Identity]], shuffler: random.Random
) -> None:
    events = _events(sets)
    shuffled = list(events)
    shuffler.shuffle(shuffled)
    first, second = _run(events, NO_GUARDS), _run(shuffled, NO_GUARDS)
    assert _partition(first) == _partition(second) == _components(sets)
    _assert_consistent(first, events)
    _assert_consistent(second, shuffled)


@settings(max_examples=100, deadline=None)
@given(guarded_sets)
def test_redelivering_every_event_changes_nothing(sets: list[set[Identity]]) -> None:
    events = _events(sets)
    repo = _run(events, GUARDED)
    before = _state(repo)
    for event in events:
        with FakeUnitOfWork(repo) as uow:
            assert handle_events([event], uow, T0, GUARDED) == [None]
            uow.commit()
    after = _state(repo)
    assert after == before
    _assert_consistent(repo, events)


@settings(max_examples=150, deadline=None)
@given(guarded_sets)
def test_no_customer_ever_holds_two_account_ids(sets: list[set[Identity]]) -> None:
    events = _events(sets)
    repo = _run(events, GUARDED)
    _assert_consistent(repo, events)
    accounts: dict[str, set[str]] = {}
    for identity, owner in repo.identities.items():
        if identity.kind is IdentityKind.ACCOUNT:
            accounts.setdefault(owner, set()).add(identity.value)
    assert all(len(held) == 1 for held in accounts.values()), accounts
    # Every event that met two account ids left a conflict behind, not a merge.
    for n, ids in enumerate(sets):
        if len({i for i in ids if i.kind is IdentityKind.ACCOUNT}) > 1:
            assert any(c.event_id == f"evt-{n}" for c in repo.conflicts)
