"""Two PostgreSQL transactions that take and free slots of the same agents in
opposite orders both commit: neither waits for the other's agents mid-transaction,
so PostgreSQL never has a deadlock to break, and the loads add up."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.builders import agent
from ticketrouter.adapters.database import Database, connect
from ticketrouter.adapters.repository import SqlRepository
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.domain.channels import Channel

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WAIT_S = 30.0  # generous: each step is a statement or two

Step = Callable[[SqlRepository], object]


def _reserve(agent_id: str) -> Step:
    return lambda repo: repo.reserve_capacity(agent_id, Channel.CHAT, T0)


def _release(agent_id: str) -> Step:
    return lambda repo: repo.release_capacity(agent_id, Channel.CHAT)


@pytest.fixture
def postgres(postgres_url: str) -> Database:
    db = connect(postgres_url)
    db.create_schema()
    with SqlUnitOfWork(db.writer) as uow:
        for agent_id in ("ana", "bo"):
            uow.repo.upsert_agent(agent(agent_id, capacity={"chat": 3}))
        uow.commit()
    with SqlUnitOfWork(db.writer) as uow:  # one chat each, for the releases
        assert uow.repo.reserve_capacity("ana", Channel.CHAT, T0)
        assert uow.repo.reserve_capacity("bo", Channel.CHAT, T0)
        uow.commit()
    yield db
    db.dispose()


def _interleave(db: Database, first: tuple[Step, Step], second: tuple[Step, Step]) -> None:
    """Each transaction takes its first step, waits until the other has taken its
    own, then takes its second step and commits: the order that deadlocks when a
    step holds its agent's row until commit."""
    done_first = [threading.Event(), threading.Event()]
    errors: list[BaseException] = []

    def run(me: int, steps: tuple[Step, Step]) -> None:
        try:
            with SqlUnitOfWork(db.writer) as uow:
                steps[0](uow.repo)
                done_first[me].set()
                assert done_first[1 - me].wait(WAIT_S), "the other transaction never started"
                steps[1](uow.repo)
                uow.commit()
        except BaseException as err:  # reported by the test thread
            errors.append(err)
            done_first[me].set()

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S * 2)
    assert not any(t.is_alive() for t in threads), "a transaction is still waiting"
    assert errors == []


def _chats(db: Database) -> dict[str, int]:
    with SqlUnitOfWork(db.reader) as uow:
        return {a.agent_id: a.load.get(Channel.CHAT, 0) for a in uow.repo.list_agents()}


def test_reservations_in_opposite_orders_both_commit(postgres: Database) -> None:
    _interleave(postgres, (_reserve("ana"), _reserve("bo")), (_reserve("bo"), _reserve("ana")))
    assert _chats(postgres) == {"ana": 3, "bo": 3}


def test_a_release_and_a_reservation_in_opposite_orders_both_commit(postgres: Database) -> None:
    _interleave(postgres, (_reserve("ana"), _release("bo")), (_reserve("bo"), _release("ana")))
    assert _chats(postgres) == {"ana": 1, "bo": 1}
