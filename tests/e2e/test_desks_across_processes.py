"""Desks on a server without a worker see what a separate worker process routes:
their own agent's assignments, once each, and after a reconnect what they missed."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from tests.builders import event_json
from tests.e2e.conftest import e2e_settings, read_topic, wait_until
from tests.e2e.progress import wait_for_progress
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.kafka import create_producer, ensure_topics
from ticketrouter.config import Settings, to_env
from ticketrouter.v1 import agents_pb2, agents_pb2_grpc, routing_pb2, routing_pb2_grpc

FIRST, SECOND = 10, 8  # contacts before and while ana's desk is away


class Desk:
    """One WatchAssignments stream, read on a thread of its own."""

    def __init__(self, channel: grpc.Channel, agent_id: str, after: str = "") -> None:
        request = routing_pb2.WatchAssignmentsRequest(agent_id=agent_id, after_decision_id=after)
        self.stream: Any = routing_pb2_grpc.RoutingServiceStub(channel).WatchAssignments(request)
        self.received: queue.Queue[tuple[float, routing_pb2.Assignment]] = queue.Queue()
        self.seen: list[tuple[float, routing_pb2.Assignment]] = []
        self.stream.initial_metadata()  # subscribed: nothing routed from now on is missed
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for assignment in self.stream:
                self.received.put((time.time(), assignment))
        except grpc.RpcError as err:
            if err.code() is not grpc.StatusCode.CANCELLED:
                raise

    def count(self) -> int:
        while not self.received.empty():
            self.seen.append(self.received.get_nowait())
        return len(self.seen)

    def ids(self) -> list[str]:
        self.count()
        return [a.decision.decision_id for _, a in self.seen if not a.gap]

    def close(self) -> None:
        self.stream.cancel()


def _process(command: list[str], settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **to_env(settings),
        "TICKETROUTER_LOG_FORMAT": "json",
        "TICKETROUTER_METRICS_ADDRESS": "127.0.0.1:0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ticketrouter.entrypoints.cli", *command],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _logged(log: Path, message: str) -> dict[str, Any] | None:
    for line in log.read_text().splitlines():
        if line.startswith("{") and (record := json.loads(line))["msg"] == message:
            return dict(record)
    return None


@contextmanager
def _running(*processes: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)


def _add_agent(channel: grpc.Channel, agent_id: str) -> None:
    agents_pb2_grpc.AgentServiceStub(channel).UpsertAgent(
        agents_pb2.UpsertAgentRequest(
            agent=agents_pb2.Agent(
                agent_id=agent_id,
                name=agent_id.title(),
                team="support",
                skills={"general": 2},
                languages=["en"],
                presence="available",
                capacity=[agents_pb2.ChannelCapacity(channel="email", capacity=50)],
            )
        )
    )


def _publish(settings: Settings, numbers: range) -> None:
    producer = create_producer(settings.kafka_bootstrap)
    for n in numbers:
        customer = f"desk-customer{n}@example.com"
        event = event_json(f"desk-{n}", [("email", customer)])
        producer.send(
            settings.contacts_topic, key=customer.encode(), value=json.dumps(event).encode()
        )
    producer.flush()
    producer.close()


def _delays_ms(seen: list[tuple[float, routing_pb2.Assignment]]) -> list[float]:
    """From each decision to its arrival at a desk, the slowest last."""
    return sorted(1000 * (at - a.decision.decided_at.ToMicroseconds() / 1e6) for at, a in seen)


def test_desks_on_a_server_see_a_separate_workers_assignments_once_and_catch_up(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = e2e_settings(broker, f"sqlite:///{tmp_path}/shared.db")
    ensure_topics(
        broker.bootstrap, [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic], 2
    )
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
    server = _process(["serve", "--without-worker"], settings, server_log)
    with _running(server):
        wait_until(lambda: _logged(server_log, "ticketrouter serving") is not None, 60, "serve")
        started = _logged(server_log, "ticketrouter serving")
        assert started is not None and started["worker"] == "off"
        channel = grpc.insecure_channel(started["grpc"])
        for agent_id in ("ana", "bo"):
            _add_agent(channel, agent_id)
        worker = _process(["worker"], settings, worker_log)
        with _running(worker):
            wait_until(
                lambda: _logged(worker_log, "partitions assigned") is not None, 60, "the worker"
            )
            every, ana, bo = Desk(channel, ""), Desk(channel, "ana"), Desk(channel, "bo")
            _publish(settings, range(FIRST))
            wait_for_progress(every.count, FIRST, "assignments on the all-agents desk")
            wait_until(lambda: ana.count() + bo.count() == FIRST, 10, "ana's and bo's desks")
            ana.close()
            last_seen = ana.ids()[-1]

            _publish(settings, range(FIRST, FIRST + SECOND))
            wait_for_progress(every.count, FIRST + SECOND, "assignments while ana is away")
            owners = {a.decision.decision_id: a.decision.agent_id for _, a in every.seen}
            anas = [d for d in every.ids() if owners[d] == "ana"]
            missed = anas[anas.index(last_seen) + 1 :]
            assert missed, "ana was assigned nothing while away"
            back = Desk(channel, "ana", after=last_seen)
            wait_for_progress(back.count, len(missed), "ana's missed assignments")
            lost = Desk(channel, "ana", after="a-decision-this-server-never-saw")
            wait_for_progress(lost.count, 1 + len(anas), "the gap and what the server holds")
            wait_until(lambda: bo.count() == len(every.ids()) - len(anas), 10, "bo's desk")
            for desk in (every, bo, back, lost):
                desk.close()
        channel.close()

    published = read_topic(broker.bootstrap, settings.decisions_topic, FIRST + SECOND)
    truth = {json.loads(r.value)["decision_id"]: json.loads(r.value)["agent_id"] for r in published}
    assert len(truth) == FIRST + SECOND and owners == truth
    # Each desk: exactly its agent's, once each, in the order they were decided.
    assert ana.ids() + back.ids() == anas
    assert bo.ids() == [d for d in every.ids() if owners[d] == "bo"]
    assert back.ids() == missed and not any(a.gap for _, a in back.seen)
    assert lost.seen[0][1].gap and not lost.seen[0][1].HasField("decision")
    assert lost.ids() == anas
    assert all(a.case.owner_agent_id == "ana" for _, a in back.seen)
    # Warm (the first batch also pays for the clients' first metadata round trips):
    # the target is 100 ms at p99; the bound here only catches a wait gone wrong
    # (a fetch waiting its default 500 ms) on a machine busy with other work.
    cold, warm = _delays_ms(every.seen[:FIRST]), _delays_ms(every.seen[FIRST:])
    print(f"desk delay ms: first batch max {cold[-1]:.0f}, then {[round(d) for d in warm]}")
    assert warm[-1] < 400
