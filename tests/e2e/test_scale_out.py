"""Two worker processes in one consumer group never over-assign an agent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from tests.builders import agent, event_json
from tests.e2e.conftest import e2e_settings, wait_until
from tests.e2e.progress import TEST_CEILING_S, wait_for_progress
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.kafka import create_producer, ensure_topics
from ticketrouter.adapters.orm import AgentChannelRow, CaseRow, ProcessedEventRow
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.config import Settings, to_env
from ticketrouter.domain.channels import Presence

EVENTS = 400
CHANNELS = ["email", "chat", "voice"]


def _worker_env(settings: Settings) -> dict[str, str]:
    small_batches = settings.with_overrides(batch_size=25, max_poll_interval_ms=6000)
    return {**os.environ, **to_env(small_batches), "TICKETROUTER_METRICS_ADDRESS": "127.0.0.1:0"}


def start_workers(settings: Settings, logs: list[Path]) -> list[subprocess.Popen[bytes]]:
    """One `ticketrouter worker` process per log file, all in the same group."""
    return [
        subprocess.Popen(
            [sys.executable, "-m", "ticketrouter.entrypoints.cli", "worker"],
            env=_worker_env(settings),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        process.send_signal(signal.SIGTERM)
    for process in workers:
        process.wait(timeout=30)


def _share_the_partitions(logs: list[Path]) -> bool:
    """Each worker's latest assignment holds half of the four partitions."""
    latest = []
    for log in logs:
        lines = [line for line in log.read_text().splitlines() if "partitions assigned" in line]
        latest.append(lines[-1] if lines else "")
    return all("count=2" in line for line in latest)


@pytest.fixture(params=["sqlite", "postgres"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.timeout(TEST_CEILING_S)
def test_two_workers_share_the_group_and_never_over_assign(
    broker: EmbeddedBroker, shared_database: str, tmp_path: Path
) -> None:
    settings = e2e_settings(broker, shared_database).with_overrides(topic_partitions=4)
    ensure_topics(
        broker.bootstrap, [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic], 4
    )
    database = connect(shared_database)
    database.create_schema()
    with SqlUnitOfWork(database.writer) as uow:
        for n in range(6):  # few slots: contention for the same agents is certain
            uow.repo.upsert_agent(
                agent(
                    f"agent-{n}",
                    {"general": 2},
                    capacity={"email": 3, "chat": 2, "voice": 1},
                    presence=Presence.AVAILABLE,
                )
            )
        uow.commit()

    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    workers = start_workers(settings, logs)
    try:
        wait_until(lambda: _share_the_partitions(logs), 60, "both workers in the group")
        producer = create_producer(broker.bootstrap)
        for n in range(EVENTS):
            customer = f"customer{n % 150}@example.com"
            event = event_json(
                f"scale-{n}",
                [("email", customer)],
                channel=CHANNELS[n % 3],
                topic=f"general.q{n % 4}",
            )
            producer.send(
                settings.contacts_topic, key=customer.encode(), value=json.dumps(event).encode()
            )
        producer.flush()
        producer.close()

        def processed() -> int:
            with Session(database.reader) as session:
                return int(
                    session.execute(
                        select(func.count()).select_from(ProcessedEventRow)
                    ).scalar_one()
                )

        wait_for_progress(processed, EVENTS, "processed events")
    finally:
        stop_workers(workers)

    with Session(database.reader) as session:
        assert processed() == EVENTS
        slots = session.execute(
            select(
                AgentChannelRow.agent_id,
                AgentChannelRow.channel,
                AgentChannelRow.capacity,
                AgentChannelRow.load,
            )
        ).all()
        owned = {
            (a, c): n
            for a, c, n in session.execute(
                select(CaseRow.owner_agent_id, CaseRow.channel, func.count())
                .where(CaseRow.status == "assigned")
                .group_by(CaseRow.owner_agent_id, CaseRow.channel)
            )
        }
    database.dispose()
    assert any(load for _, _, _, load in slots)
    for agent_id, channel, capacity, load in slots:
        assert load <= capacity, f"{agent_id} over capacity on {channel}"
        assert load == owned.get((agent_id, channel), 0), f"{agent_id} load drifted on {channel}"
    worked = [log.read_text() for log in logs]
    assert all("worker stopped" in text for text in worked), worked
    shares = [int(text.rsplit("processed=", 1)[1].split()[0]) for text in worked]
    assert sum(shares) >= EVENTS and all(share > 0 for share in shares), shares
