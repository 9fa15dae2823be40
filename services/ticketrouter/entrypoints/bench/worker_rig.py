"""A real ContactWorker wired as in production, on a fresh SQLite file, for stages 2b and 2c."""

from __future__ import annotations

import random
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from ticketrouter.adapters.kafka import OutboxRelay, create_producer
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings
from ticketrouter.domain.commands import UpsertAgent
from ticketrouter.entrypoints.bench.kafka_tools import (
    MAX_POLL_INTERVAL_MS,
    TimedConsumer,
    Topics,
    group_consumer,
)
from ticketrouter.entrypoints.bench.synthetic_agents import make_agent
from ticketrouter.entrypoints.worker import ContactWorker
from ticketrouter.service_layer.agents import upsert_agent

SEEDED_AGENTS = 200


@dataclass
class WorkerRig:
    """A worker on a fresh SQLite file with seeded agents, and everything to close."""

    app: App
    worker: ContactWorker
    consumer: TimedConsumer
    stack: ExitStack

    @classmethod
    def start(cls, settings: Settings, servers: str, topics: Topics, db: Path) -> WorkerRig:
        stage = worker_settings(settings, servers, topics, db)
        stack = ExitStack()
        try:
            app = bootstrap(stage)
            stack.callback(app.close)
            app.feed.close()  # as `ticketrouter worker` does: no desks in this process
            seed_agents(app, SEEDED_AGENTS)
            consumer = group_consumer(servers, topics.contacts, stage.group_id, stage.batch_size)
            stack.callback(consumer.close)
            producer = create_producer(servers, client_id="ticketrouter-bench-worker")
            stack.callback(producer.close, 5)
            relay = OutboxRelay(
                app.database.writer, producer, topics.decisions, reader=app.database.reader
            )
            app.publish_outbox = relay.send
            worker = ContactWorker(app, consumer, producer, relay)
        except BaseException:
            stack.close()
            raise
        return cls(app, worker, consumer, stack)

    @property
    def done(self) -> int:
        return self.worker.processed + self.worker.dead_lettered

    def close(self) -> None:
        self.stack.close()


def worker_settings(
    settings: Settings, servers: str, topics: Topics, db: Path, **more: object
) -> Settings:
    """A stage's worker: its topics and group, on a fresh SQLite file."""
    return settings.with_overrides(
        database_url=f"sqlite:///{db}",
        kafka_bootstrap=servers,
        contacts_topic=topics.contacts,
        decisions_topic=topics.decisions,
        dlq_topic=topics.dlq,
        group_id=f"{topics.contacts}-worker",
        max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        **more,
    )


def seed_agents(app: App, count: int) -> None:
    """Agents covering every topic, with generous capacity: many cases assigned, some queue."""
    rng = random.Random(7)
    for number in range(count):
        app.bus.execute(upsert_agent, UpsertAgent(make_agent(rng, number, loaded=False)))
