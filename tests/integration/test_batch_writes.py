"""A batch is written set-based: the statements a batch costs do not grow with the
number of contacts in it, and the transaction still reads its own writes. On SQLite
and PostgreSQL, through the real unit of work."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from tests.builders import agent, contact, rules
from ticketrouter.adapters.codec import encode_decision
from ticketrouter.adapters.database import Database, connect
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.domain.cases import CaseStatus
from ticketrouter.domain.commands import ResolveCase
from ticketrouter.domain.context import ContextLimits
from ticketrouter.service_layer.cases import resolve_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.ports import ConcurrentUpdate
from ticketrouter.service_layer.settings import RoutingSettings

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SETTINGS = RoutingSettings(rules())


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    db = connect(url)
    db.create_schema()
    yield db
    db.dispose()


def _uow(db: Database) -> SqlUnitOfWork:
    return SqlUnitOfWork(db.writer, encode_decision, context_limits=ContextLimits())


@contextmanager
def _statements(engine: Engine) -> Iterator[Counter[str]]:
    """Statements sent to the database, by their first word (an executemany is one)."""
    counted: Counter[str] = Counter()

    def count(*args: Any) -> None:
        counted[str(args[2]).lstrip().split(None, 1)[0].upper()] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _route(db: Database, commands: list[Any], now: datetime = T0) -> list[Any]:
    with _uow(db) as uow:
        decisions = handle_events(commands, uow, now, SETTINGS)
        uow.commit()
    return decisions


def _seed(db: Database) -> None:
    with _uow(db) as uow:
        uow.repo.upsert_agent(agent("gen", capacity={"email": 500, "chat": 500}))
        uow.commit()


def _batch_statements(db: Database, size: int, start: int) -> Counter[str]:
    batch = [contact(("email", f"c{start + n}@x.com")) for n in range(size)]
    with _statements(db.writer) as counted:
        decisions = _route(db, batch)
    assert all(d is not None and d.agent_id == "gen" for d in decisions)
    return counted


def test_inserts_and_updates_of_a_batch_do_not_grow_with_its_size(database: Database) -> None:
    _seed(database)
    small = _batch_statements(database, 5, 0)
    large = _batch_statements(database, 50, 100)
    # New customers, identities, cases, contacts, timeline entries, processed ids and
    # the outbox: one multi-row statement per table, however many contacts.
    assert large["INSERT"] == small["INSERT"]
    # The slots taken: decided against the transaction's roster and written as one
    # statement (on PostgreSQL at commit, under the agents' locks, checked again).
    assert large["UPDATE"] == small["UPDATE"]


def test_returning_customers_bringing_account_ids_cost_no_more_statements(
    database: Database,
) -> None:
    """A new account id for a known customer makes resolution ask which strong ids
    the customer holds; that question must not write the batch's rows early, which
    split the batch's multi-row statements into one set per contact."""
    _seed(database)
    known = [contact(("email", f"c{n}@x.com")) for n in range(60)]
    _route(database, known)

    def returning(start: int, size: int) -> Counter[str]:
        batch = [
            contact(("email", f"c{n}@x.com"), ("account", f"acct-{n}"))
            for n in range(start, start + size)
        ]
        with _statements(database.writer) as counted:
            decisions = _route(database, batch)
        assert all(d is not None for d in decisions)
        return counted

    small = returning(0, 5)
    large = returning(10, 50)
    assert large["INSERT"] == small["INSERT"]
    assert large["SELECT"] == small["SELECT"]
    with _uow(database) as uow:
        customer = uow.repo.get_customer(_owner_of(database, "c20@x.com"))
    assert customer is not None
    assert sorted(i.value for i in customer.identities) == ["ACCT-20", "c20@x.com"]


def _owner_of(db: Database, email: str) -> str:
    with _uow(db) as uow:
        owners = uow.repo.owners_of([contact(("email", email)).identities[0]])
    return next(iter(owners.values()))


def test_a_case_changed_many_times_in_a_batch_is_written_once(database: Database) -> None:
    _seed(database)
    [first] = _route(database, [contact(("email", "a@x.com"), channel="email")])
    assert first is not None
    follow_ups = [contact(("email", "a@x.com"), channel="email") for _ in range(10)]
    with _statements(database.writer) as counted:
        decisions = _route(database, follow_ups)
    assert {d.case_id for d in decisions if d is not None} == {first.case_id}
    assert counted["UPDATE"] == 1  # the case; the agent's load did not change
    with _uow(database) as uow:
        case = uow.repo.get_case(first.case_id)
    assert case is not None
    assert case.contact_count == 11
    assert case.version == 10  # one version per change, as if written each time


def test_the_transaction_reads_what_it_has_not_written_yet(database: Database) -> None:
    with _uow(database) as uow:
        [decision] = handle_events([contact(("email", "a@x.com"))], uow, T0, SETTINGS)
        assert decision is not None
        # Still in memory; each read below must write it first to see it.
        customer = uow.repo.get_customer(decision.customer_id)
        assert customer is not None and [i.value for i in customer.identities] == ["a@x.com"]
        assert [c.case_id for c in uow.repo.queued_cases(10)] == [decision.case_id]
        assert uow.repo.open_case_ids(decision.customer_id) == [decision.case_id]
        uow.commit()


def test_a_stale_copy_of_a_case_changed_in_the_same_batch_is_refused(database: Database) -> None:
    [decision] = _route(database, [contact(("email", "a@x.com"))])
    assert decision is not None
    with _uow(database) as uow:
        case = uow.repo.get_case(decision.case_id)
        assert case is not None
        uow.repo.save_case(case)
    with _uow(database) as uow:
        stale = uow.repo.get_case(decision.case_id)
    with _uow(database) as uow:
        fresh = uow.repo.get_case(decision.case_id)
        assert fresh is not None and stale is not None
        uow.repo.save_case(fresh)
        with pytest.raises(ConcurrentUpdate):
            uow.repo.save_case(stale)


def test_a_repeat_contact_in_the_same_batch_reopens_the_latest_resolution(
    database: Database,
) -> None:
    _seed(database)
    resolved: list[str] = []
    # Two resolutions of the same topic, a week and a day apart (outside the FCR
    # window of each other), the second the latest.
    for n in range(2):
        at = T0 + timedelta(days=8 * n)
        [decision] = _route(database, [contact(("email", "a@x.com"), at=at)], at)
        assert decision is not None
        with _uow(database) as uow:
            resolve_case(ResolveCase(decision.case_id, "done"), uow, at, SETTINGS)
            uow.commit()
        resolved.append(decision.case_id)
    # A new customer in the same batch, so the batch both inserts and reopens.
    later = T0 + timedelta(days=8, hours=1)
    repeat = [contact(("email", "b@x.com"), at=later), contact(("email", "a@x.com"), at=later)]
    new, reopened = _route(database, repeat, later)
    assert new is not None and reopened is not None
    assert reopened.case_id == resolved[1]
    with _uow(database) as uow:
        case = uow.repo.get_case(resolved[1])
        older = uow.repo.get_case(resolved[0])
        assert case is not None and older is not None
        assert case.status is not CaseStatus.RESOLVED
        assert older.status is CaseStatus.RESOLVED
        customer = uow.repo.get_customer(new.customer_id)
        assert customer is not None and [i.value for i in customer.identities] == ["b@x.com"]


def test_agents_are_touched_once_at_commit_even_when_a_merge_writes_mid_batch(
    database: Database,
) -> None:
    """A merge writes what the batch has buffered; the agents' last-assignment times
    must not go with it (they would hold agent rows out of agent order while the
    batch goes on reserving, which deadlocked workers on PostgreSQL)."""
    _seed(database)
    _route(database, [contact(("email", "a@x.com")), contact(("phone", "+1 415 555 0100"))])
    batch = [
        contact(("email", "first@x.com")),  # assigned: its agent's touch is pending
        contact(("email", "a@x.com"), ("phone", "+14155550100")),  # a merge, mid-batch
        contact(("email", "last@x.com")),
    ]
    touches: list[str] = []

    def note_touch(*args: Any) -> None:
        if "last_assigned_at=" in str(args[2]):
            touches.append(str(args[2]))

    event.listen(database.writer, "before_cursor_execute", note_touch)
    try:
        with _uow(database) as uow:
            first, merged, last = handle_events(batch, uow, T0, SETTINGS)
            assert touches == [], "nothing touched before the commit"
            uow.commit()
    finally:
        event.remove(database.writer, "before_cursor_execute", note_touch)
    assert first is not None and merged is not None and last is not None
    assert len(touches) == 1  # one statement, every agent of the batch in agent order
