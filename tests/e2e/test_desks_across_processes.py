"""Desks on a server without a worker see what two separate worker processes
route: 200 desks with tokens, each its own agent's assignments, once each, and
after a reconnect what it missed."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.builders import event_json
from tests.e2e.conftest import e2e_settings, read_topic, wait_until
from tests.e2e.progress import TEST_CEILING_S, wait_for_progress
from tests.e2e.test_grpc_security import ADMIN_TOKEN, PLATFORM, PLATFORM_TOKEN
from tests.e2e.test_scale_out import start_workers, stop_workers
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.feed import PER_AGENT
from ticketrouter.adapters.kafka import create_producer, ensure_topics
from ticketrouter.config import Settings, to_env
from ticketrouter.v1 import agents_pb2, agents_pb2_grpc, routing_pb2, routing_pb2_grpc

AGENTS = 200  # one desk each, beside one desk for every agent
PARTITIONS = 2  # one per worker
FIRST, SECOND = 300, 100  # new contacts before and while one desk is away


class Desk:
    """One WatchAssignments stream, read on a thread of its own."""

    def __init__(self, channel: grpc.Channel, agent_id: str, after: str = "") -> None:
        request = routing_pb2.WatchAssignmentsRequest(agent_id=agent_id, after_decision_id=after)
        self.stream: Any = routing_pb2_grpc.RoutingServiceStub(channel).WatchAssignments(
            request, metadata=PLATFORM
        )
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
        ),
        metadata=PLATFORM,
    )


def _publish(settings: Settings, numbers: range, again: Sequence[int] = ()) -> None:
    """A new customer's contact for each of `numbers`; a second contact from each
    customer in `again`, about the same issue."""
    producer = create_producer(settings.kafka_bootstrap)
    contacts = [(n, f"desk-{n}") for n in numbers] + [(n, f"desk-{n}-again") for n in again]
    for n, event_id in contacts:
        customer = f"desk-customer{n}@example.com"
        event = event_json(event_id, [("email", customer)])
        producer.send(
            settings.contacts_topic, key=customer.encode(), value=json.dumps(event).encode()
        )
    producer.flush()
    producer.close()


def _delays_ms(seen: list[tuple[float, routing_pb2.Assignment]]) -> list[float]:
    """From each decision to its arrival at a desk, the slowest last."""
    return sorted(1000 * (at - a.decision.decided_at.ToMicroseconds() / 1e6) for at, a in seen)


def _wait_stable_group(logs: list[Path], partitions: int) -> None:
    """Each worker's latest assignment holds its share of the partitions."""
    share = f"count={partitions // len(logs)}"

    def stable() -> bool:
        latest = [
            [line for line in log.read_text().splitlines() if "partitions assigned" in line]
            for log in logs
        ]
        return all(lines and share in lines[-1] for lines in latest)

    wait_until(stable, 60, "the workers to share the partitions")


@pytest.mark.timeout(TEST_CEILING_S)
def test_desks_on_a_server_see_two_workers_assignments_once_and_catch_up(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = e2e_settings(broker, f"sqlite:///{tmp_path}/shared.db").with_overrides(
        platform_tokens=(PLATFORM_TOKEN,), admin_tokens=(ADMIN_TOKEN,)
    )
    ensure_topics(
        broker.bootstrap,
        [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic],
        PARTITIONS,
    )
    server_log = tmp_path / "server.log"
    server = _process(["serve", "--without-worker"], settings, server_log)
    with _running(server):
        wait_until(lambda: _logged(server_log, "ticketrouter serving") is not None, 60, "serve")
        started = _logged(server_log, "ticketrouter serving")
        assert started is not None and started["worker"] == "off"
        channel = grpc.insecure_channel(started["grpc"])
        agents = [f"agent-{n:03d}" for n in range(AGENTS)]
        for agent_id in agents:
            _add_agent(channel, agent_id)
        logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
        workers = start_workers(settings, logs)
        try:
            _wait_stable_group(logs, PARTITIONS)
            every = Desk(channel, "")
            desks = {agent_id: Desk(channel, agent_id) for agent_id in agents}
            _publish(settings, range(FIRST))
            wait_for_progress(every.count, FIRST, "assignments on the all-agents desk")
            wait_for_progress(
                lambda: sum(d.count() for d in desks.values()), FIRST, "the agents' desks"
            )
            owners = {a.decision.decision_id: a.decision.agent_id for _, a in every.seen}
            # The busiest agent's desk goes away; its customers come back meanwhile
            # and rejoin their cases with her (continuity first), beside new contacts.
            away = max(agents, key=lambda agent_id: desks[agent_id].count())
            desks[away].close()
            last_seen = desks[away].ids()[-1]
            customers = [
                int(a.decision.event_id.removeprefix("desk-"))
                for _, a in every.seen
                if a.decision.agent_id == away
            ]
            _publish(settings, range(FIRST, FIRST + SECOND), again=customers)
            total = FIRST + SECOND + len(customers)
            wait_for_progress(every.count, total, "assignments while a desk is away")
            owners = {a.decision.decision_id: a.decision.agent_id for _, a in every.seen}
            theirs = [d for d in every.ids() if owners[d] == away]
            missed = theirs[theirs.index(last_seen) + 1 :]
            assert missed, f"{away} was assigned nothing while away"
            back = Desk(channel, away, after=last_seen)
            wait_for_progress(back.count, len(missed), "the missed assignments")
            lost = Desk(channel, away, after="a-decision-this-server-never-saw")
            wait_for_progress(lost.count, 1 + len(theirs), "the gap and what the server holds")
            others = [d for agent_id, d in desks.items() if agent_id != away]
            wait_for_progress(
                lambda: sum(d.count() for d in others),
                total - len(theirs),
                "the other desks",
            )
            for desk in (every, back, lost, *others):
                desk.close()
        finally:
            stop_workers(workers)
        channel.close()

    published = read_topic(broker.bootstrap, settings.decisions_topic, total)
    truth = {json.loads(r.value)["decision_id"]: json.loads(r.value)["agent_id"] for r in published}
    print(
        "DEBUG",
        len(published),
        len(truth),
        len(owners),
        len(every.ids()),
        len(set(every.ids())),
        len(customers),
        len(set(owners) - set(truth)),
    )
    assert len(truth) == total and owners == truth
    contacts = read_topic(broker.bootstrap, settings.contacts_topic, total)
    assert {r.partition for r in contacts} == set(range(PARTITIONS)), "one worker routed all"
    # Each desk: exactly its agent's, once each, in the order they were decided.
    for agent_id, desk in desks.items():
        if agent_id != away:
            assert desk.ids() == [d for d in every.ids() if owners[d] == agent_id], agent_id
    assert desks[away].ids() + back.ids() == theirs
    assert back.ids() == missed and not any(a.gap for _, a in back.seen)
    assert lost.seen[0][1].gap and not lost.seen[0][1].HasField("decision")
    assert lost.ids() == theirs[-PER_AGENT:]
    assert all(a.case.owner_agent_id == away for _, a in back.seen)
    # Warm (the first batch also pays for the clients' first metadata round trips):
    # the target is 100 ms at p99; the bound here only catches a wait gone wrong
    # (a fetch waiting its default 500 ms) on a machine busy with other work.
    warm = _delays_ms(every.seen[FIRST:])
    print(
        f"desk delay ms after the first batch: p50 {warm[len(warm) // 2]:.0f}, max {warm[-1]:.0f}"
    )
    assert warm[-1] < 1000
