"""One customer's events, keyed by their identity, are applied and published in the
order they were produced, even when the batch is retried after a database failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from tests.builders import event_json
from tests.e2e.conftest import e2e_settings, wait_until
from tests.e2e.faults.harness import (
    Contact,
    Publisher,
    fleet,
    read_topic,
    seed_agents,
    wait_processed,
)
from tests.e2e.progress import TEST_CEILING_S
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.kafka import ensure_topics
from ticketrouter.adapters.orm import CaseRow, TimelineRow

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

STEPS = 12
EMAIL = "ordered.person@example.com"
RETRYING = "transient failure, retrying the batch without committing"


def _steps() -> list[Contact]:
    made = []
    for n in range(STEPS):
        event = event_json(
            f"step-{n:02d}",
            [("email", EMAIL)],
            channel=("email", "chat", "voice")[n % 3],
            occurred_at=f"2026-11-22T10:00:{n:02d}Z",
        ) | {"subject": f"step-{n:02d}"}
        made.append(Contact(event["event_id"], EMAIL.encode(), json.dumps(event).encode()))
    return made


@pytest.mark.timeout(TEST_CEILING_S)
def test_one_customers_events_keep_their_order_across_a_retried_batch(
    broker: EmbeddedBroker, postgres_url: str, tmp_path: Path
) -> None:
    settings = e2e_settings(broker, postgres_url)
    ensure_topics(
        broker.bootstrap, [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic], 2
    )
    database = connect(postgres_url)
    database.create_schema()
    seed_agents(database, 2)
    publisher = Publisher(broker.bootstrap, settings.contacts_topic)
    steps = _steps()
    try:
        with fleet(settings, tmp_path) as workers, database.writer.connect() as blocker:
            worker = workers.start("worker")
            wait_until(lambda: worker.assigned(), 60, "the worker in its group")
            # The batch's first statement waits on this lock; its connection is then cut.
            blocker.exec_driver_sql("LOCK TABLE processed_events IN ACCESS EXCLUSIVE MODE")
            publisher.publish(steps)
            waiting: list[int] = []

            def worker_waits() -> bool:
                waiting[:] = [
                    pid
                    for (pid,) in blocker.exec_driver_sql(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                    )
                ]
                return bool(waiting)

            wait_until(worker_waits, 30, "the worker waiting on the locked table")
            for pid in waiting:
                blocker.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
            wait_until(lambda: RETRYING in worker.text(), 30, "the batch retried")
            blocker.rollback()
            wait_processed(database, STEPS, workers)
    finally:
        publisher.close()

    expected = [c.event_id for c in steps]
    with Session(database.reader) as session:
        contacts_in_order = [
            detail.split(": ", 1)[1].split(" ", 1)[0]
            for (detail,) in session.execute(
                select(col(TimelineRow.detail))
                .where(col(TimelineRow.kind) == "contact")
                .order_by(col(TimelineRow.id))
            )
        ]
        cases = session.execute(select(col(CaseRow.contact_count))).all()
    database.dispose()
    assert contacts_in_order == expected, "applied out of order"
    assert [count for (count,) in cases] == [STEPS], "one case holding every contact once"

    records = read_topic(broker.bootstrap, settings.decisions_topic, lambda r: len(r) >= STEPS, 30)
    assert len({r.partition for r in records}) == 1, "one customer's decisions share a partition"
    published = list(dict.fromkeys(json.loads(r.value)["event_id"] for r in records))
    assert published == expected, "decisions published out of order"
    outcomes = [json.loads(r.value)["outcome"] for r in records[:STEPS]]
    assert outcomes[0] in ("assigned", "queued")
    assert set(outcomes[1:]) == {"rejoined_case"}
