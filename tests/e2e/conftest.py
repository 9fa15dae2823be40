"""End-to-end fixtures: a real Tansu broker over TCP, the service on real ports."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.e2e.progress import wait_for_progress
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.kafka import ensure_topics
from ticketrouter.config import Settings
from ticketrouter.entrypoints.runtime import Runtime
from ticketrouter.v1 import agents_pb2, agents_pb2_grpc, customers_pb2_grpc, routing_pb2_grpc


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running


def e2e_settings(broker: EmbeddedBroker, database_url: str) -> Settings:
    """Unique topics and group per test, so tests never see each other's events."""
    suffix = uuid.uuid4().hex[:8]
    return Settings(
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        contacts_topic=f"contact-events-{suffix}",
        decisions_topic=f"routing-decisions-{suffix}",
        dlq_topic=f"contact-events-{suffix}.dlq",
        topic_partitions=2,
        group_id=f"ticketrouter-{suffix}",
        batch_size=100,
        max_poll_interval_ms=6000,
        grpc_address="127.0.0.1:0",
        metrics_address="127.0.0.1:0",
    )


@dataclass
class Service:
    runtime: Runtime
    channel: grpc.Channel
    producer: KafkaProducer

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def routing(self) -> routing_pb2_grpc.RoutingServiceStub:
        return routing_pb2_grpc.RoutingServiceStub(self.channel)

    @property
    def agents(self) -> agents_pb2_grpc.AgentServiceStub:
        return agents_pb2_grpc.AgentServiceStub(self.channel)

    @property
    def customers(self) -> customers_pb2_grpc.CustomerServiceStub:
        return customers_pb2_grpc.CustomerServiceStub(self.channel)

    def publish(self, *events: dict[str, Any] | bytes, key: bytes = b"k") -> None:
        for event in events:
            value = event if isinstance(event, bytes) else json.dumps(event).encode()
            self.producer.send(self.settings.contacts_topic, key=key, value=value)
        self.producer.flush()

    def wait_processed(self, count: int) -> None:
        """Until `count` events are routed or dead-lettered, as long as the count moves."""
        worker = self.runtime.worker
        assert worker is not None
        wait_for_progress(lambda: worker.processed + worker.dead_lettered, count, "events handled")

    def scrape(self) -> str:
        url = f"http://127.0.0.1:{self.runtime.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        wanted = name + (
            "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
        )
        for line in self.scrape().splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{wanted} not exposed")

    def metric_sum(self, name: str, **labels: str) -> float:
        """The sum of a family's series that carry these labels (among others)."""
        total = 0.0
        for line in self.scrape().splitlines():
            if not line.startswith(name + "{"):
                continue
            series, value = line.rsplit(" ", 1)
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
        return total

    def add_agent(
        self,
        agent_id: str,
        skills: dict[str, int],
        authority: dict[str, float] | None = None,
        capacity: dict[str, int] | None = None,
        presence: str = "available",
    ) -> agents_pb2.Agent:
        slots = capacity or {"email": 3, "chat": 2, "voice": 1}
        return self.agents.UpsertAgent(
            agents_pb2.UpsertAgentRequest(
                agent=agents_pb2.Agent(
                    agent_id=agent_id,
                    name=agent_id.title(),
                    team="support",
                    skills=skills,
                    authority=authority or {},
                    languages=["en"],
                    presence=presence,
                    capacity=[
                        agents_pb2.ChannelCapacity(channel=c, capacity=n) for c, n in slots.items()
                    ],
                )
            )
        )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def service(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Service]:
    with running_service(e2e_settings(broker, f"sqlite:///{tmp_path}/ticketrouter.db")) as running:
        yield running


@contextmanager
def running_service(settings: Settings) -> Iterator[Service]:
    """The whole service on these settings, with a gRPC channel and a producer to it."""
    # The test broker never answers LeaveGroup, so a stop would wait out the whole
    # timeout for nothing; nothing here depends on the group's next rebalance.
    with Runtime(settings, leave_group_timeout_ms=100) as runtime:
        channel = grpc.insecure_channel(f"127.0.0.1:{runtime.grpc_port}")
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=0)
        try:
            yield Service(runtime, channel, producer)
        finally:
            producer.close(1)
            channel.close()


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 20) -> list[Any]:
    """Every record of a topic (no group), waiting until `expected` have arrived."""
    ensure_topics(bootstrap, [topic], 1)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=500,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records
