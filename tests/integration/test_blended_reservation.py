"""The reservation guard for blended agents on SQLite and PostgreSQL: with many
transactions reserving at once on voice and chat, an agent with 100 units, voice 100
and chat 20 ends with one call or at most five chats, never both, although their
slots alone would let them take a call and eight chats."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from tests.builders import agent
from ticketrouter.adapters.database import Database
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.domain.channels import Channel
from ticketrouter.service_layer.ports import SlotTaken

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ATTEMPTS = 16  # half on voice, half on chat, all released together


def _blended_ana() -> object:
    ana = agent("ana", capacity={"voice": 1, "chat": 8})
    ana.units = 100
    ana.unit_costs = {Channel.VOICE: 100, Channel.CHAT: 20}
    return ana


def test_concurrent_reservations_never_exceed_the_agents_units(database: Database) -> None:
    with SqlUnitOfWork(database.writer) as uow:
        uow.repo.upsert_agent(_blended_ana())  # type: ignore[arg-type]
        uow.commit()
    wins: list[Channel] = []
    barrier = threading.Barrier(ATTEMPTS)

    def grab(channel: Channel) -> None:
        barrier.wait()
        with SqlUnitOfWork(database.writer) as uow:
            uow.repo.get_agent("ana")  # the roster as this transaction sees it
            won = uow.repo.reserve_capacity("ana", channel, T0)
            try:
                uow.commit()
            except SlotTaken:  # PostgreSQL: others filled the agent since the roster
                won = False
        if won:
            wins.append(channel)

    channels = [Channel.VOICE, Channel.CHAT] * (ATTEMPTS // 2)
    threads = [threading.Thread(target=grab, args=(c,)) for c in channels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with SqlUnitOfWork(database.reader) as uow:
        stored = uow.repo.get_agent("ana")
    assert stored is not None
    calls, chats = stored.load.get(Channel.VOICE, 0), stored.load.get(Channel.CHAT, 0)
    assert (calls, chats) == (wins.count(Channel.VOICE), wins.count(Channel.CHAT))
    assert (calls == 1 and chats == 0) or (calls == 0 and chats == 5), (calls, chats)
    assert stored.units_used() == 100


def test_a_blended_profile_round_trips_and_an_exclusive_channel_holds(
    database: Database,
) -> None:
    ana = agent("ana", capacity={"voice": 1, "chat": 3, "email": 5})
    ana.units = 100
    ana.unit_costs = {Channel.VOICE: 60, Channel.CHAT: 20, Channel.EMAIL: 10}
    ana.exclusive_channels = frozenset({Channel.VOICE})
    with SqlUnitOfWork(database.writer) as uow:
        uow.repo.upsert_agent(ana)
        uow.commit()
    with SqlUnitOfWork(database.writer) as uow:
        stored = uow.repo.get_agent("ana")
        assert stored is not None
        assert (stored.units, stored.unit_costs) == (100, ana.unit_costs)
        assert stored.exclusive_channels == {Channel.VOICE}
        assert uow.repo.reserve_capacity("ana", Channel.VOICE, T0)
        uow.commit()
    with SqlUnitOfWork(database.writer) as uow:
        # 60 + 10 units would fit; the call is exclusive.
        assert not uow.repo.reserve_capacity("ana", Channel.EMAIL, T0)
        uow.repo.release_capacity("ana", Channel.VOICE)
        uow.commit()
    with SqlUnitOfWork(database.writer) as uow:
        assert uow.repo.reserve_capacity("ana", Channel.EMAIL, T0)
        assert not uow.repo.reserve_capacity("ana", Channel.VOICE, T0)
        uow.commit()
    with SqlUnitOfWork(database.writer) as uow:
        plain = agent("ana", capacity={"voice": 1, "chat": 3, "email": 5})  # units removed
        uow.repo.upsert_agent(plain)
        uow.commit()
    with SqlUnitOfWork(database.writer) as uow:
        assert uow.repo.reserve_capacity("ana", Channel.VOICE, T0)
        uow.commit()
