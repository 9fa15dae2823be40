"""A stalled worker is visible: health turns NOT_SERVING, consumer lag shows the
waiting events and the batch's age grows, until the batch commits again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.builders import event_json
from tests.e2e.conftest import e2e_settings, running_service, wait_until
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.entrypoints.grpc_server import WORKER_HEALTH_SERVICE

pytestmark = pytest.mark.e2e
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.mark.timeout(120)
def test_a_worker_stuck_on_a_locked_database_says_so_and_recovers(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    path = tmp_path / "router.db"
    settings = e2e_settings(broker, f"sqlite:///{path}").with_overrides(stall_seconds=1.0)
    with running_service(settings) as service:
        health = health_pb2_grpc.HealthStub(service.channel)

        def status(name: str) -> int:
            request = health_pb2.HealthCheckRequest(service=name)
            return int(health.Check(request, timeout=5).status)

        service.add_agent("gen", {"general": 2})
        service.publish(event_json("before", [("email", "a@example.com")]))
        service.wait_processed(1)
        assert status("") == SERVING and status(WORKER_HEALTH_SERVICE) == SERVING

        # Another process takes SQLite's write lock and keeps it: every attempt to
        # write the next batch fails as a transient error, and nothing is committed.
        locker = sqlite3.connect(path, isolation_level=None, timeout=1)
        locker.execute("BEGIN IMMEDIATE")
        try:
            service.publish(
                *(event_json(f"stuck-{n}", [("email", f"s{n}@example.com")]) for n in range(3)),
                key=b"one-partition",
            )
            wait_until(lambda: status(WORKER_HEALTH_SERVICE) == NOT_SERVING, 60, "NOT_SERVING")
            assert status("") == NOT_SERVING
            assert status("ticketrouter.v1.RoutingService") == SERVING, "the process is alive"
            # At least the batch in hand; each attempt waits out SQLite's 30 s busy
            # timeout, so the backlog behind it shows when the attempt gives up.
            wait_until(
                lambda: sum(_samples(service.scrape(), "ticketrouter_consumer_lag")) >= 1,
                30,
                "the waiting events counted as lag",
            )
            [age] = _samples(service.scrape(), "ticketrouter_worker_batch_age_seconds")
            assert age >= 1.0
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        service.wait_processed(4)
        wait_until(lambda: status(WORKER_HEALTH_SERVICE) == SERVING, 30, "SERVING again")
        assert status("") == SERVING
        wait_until(
            lambda: _samples(service.scrape(), "ticketrouter_worker_batch_age_seconds") == [0.0],
            10,
            "the batch age back at 0",
        )
        wait_until(
            lambda: sum(_samples(service.scrape(), "ticketrouter_consumer_lag")) == 0,
            30,
            "the lag drained",
        )


def _samples(text: str, name: str) -> list[float]:
    return [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#") and line[len(name)] in " {"
    ]
