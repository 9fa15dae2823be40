"""Maturing resolutions on the fake, SQLite and PostgreSQL: each resolution is taken by
exactly one call, even with several processes maturing at once, and the report counts
what the counters were told."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.builders import agent, contact, rules
from tests.integration.conftest import UowFactory
from ticketrouter.adapters.database import Database, connect
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.domain.cases import Case
from ticketrouter.domain.channels import Channel
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.settings import RoutingSettings

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
SETTINGS = RoutingSettings(rules())


def _record(uow_factory: UowFactory, count: int) -> None:
    """`count` resolutions a second apart from T0; every third handed off (not FCR)."""
    with uow_factory() as uow:
        uow.repo.upsert_agent(agent("gen"))
        [decision] = handle_events([contact(("email", "a@x.com"))], uow, T0, SETTINGS)
        template = uow.repo.get_case(decision.case_id)
        assert template is not None
        for n in range(count):
            uow.repo.record_resolution(_resolved(template, n))
        uow.commit()


def _resolved(template: Case, n: int) -> Case:
    return replace(
        template,
        case_id=f"case-{n}",
        first_channel=Channel.CHAT if n % 2 else Channel.EMAIL,
        resolved_at=T0 + timedelta(seconds=n),
        first_contact_resolved=n % 3 != 0,
        handoff_count=1 if n % 3 == 0 else 0,
    )


def test_resolutions_mature_once_oldest_first_and_the_report_counts_them(
    uow_factory: UowFactory,
) -> None:
    _record(uow_factory, 6)
    now = T0 + WEEK + timedelta(seconds=3, milliseconds=500)
    with uow_factory() as uow:
        assert uow.repo.oldest_unmatured_resolution() == T0
        # resolved at T0 .. T0+3 s are due, T0+4 s and T0+5 s are not yet
        first = uow.repo.mature_resolutions(now - WEEK, now, limit=3)
        second = uow.repo.mature_resolutions(now - WEEK, now, limit=3)
        third = uow.repo.mature_resolutions(now - WEEK, now, limit=3)
        uow.commit()
    assert first == [(Channel.EMAIL, False), (Channel.CHAT, True), (Channel.EMAIL, True)]
    assert second == [(Channel.CHAT, False)]
    assert third == []
    with uow_factory() as uow:
        assert uow.repo.oldest_unmatured_resolution() == T0 + timedelta(seconds=4)
        # matured: its credit is final; case-4 has not matured, so it can still lose it
        assert not uow.repo.revoke_resolution("case-1")
        assert uow.repo.revoke_resolution("case-4")
        uow.commit()
    with uow_factory() as uow:
        everything = uow.repo.resolution_report(T0, now + WEEK, None)
        email = uow.repo.resolution_report(T0, now + WEEK, Channel.EMAIL)
        before = uow.repo.resolution_report(T0, now, None)
    assert (everything.resolved, everything.first_contact) == (6, 3)
    assert (everything.matured, everything.first_contact_matured) == (4, 2)
    assert everything.matured_fcr_rate == 0.5
    assert (email.matured, email.first_contact_matured) == (2, 1)
    assert before.matured == 0, "matured at `now`, outside [T0, now)"


def test_processes_maturing_at_once_count_each_resolution_exactly_once(
    database: Database,
) -> None:
    count = 300
    _record(lambda: SqlUnitOfWork(database.writer), count)
    now = T0 + WEEK + timedelta(days=1)
    # Two processes (their own engines), two threads each, small batches.
    other = connect(str(database.writer.url.render_as_string(hide_password=False)))
    taken: list[tuple[Channel, bool]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def mature(engine_of: Database) -> None:
        barrier.wait()
        while True:
            with SqlUnitOfWork(engine_of.writer) as uow:
                batch = uow.repo.mature_resolutions(now - WEEK, now, limit=7)
                uow.commit()
            if not batch:
                return
            with lock:
                taken.extend(batch)

    threads = [threading.Thread(target=mature, args=(db,)) for db in (database, other) * 2]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        other.dispose()
    assert len(taken) == count
    assert sum(1 for _, first in taken if first) == sum(1 for n in range(count) if n % 3)
    with SqlUnitOfWork(database.reader) as uow:
        report = uow.repo.resolution_report(T0, now + WEEK, None)
    assert (report.matured, report.first_contact_matured) == (count, 200)
