"""The demo's moving parts wired around one running service: traffic out to Kafka,
decisions back from it, and the agents working their cases over gRPC."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime

import grpc
from kafka import KafkaProducer

from ticketrouter.adapters.kafka import create_producer
from ticketrouter.entrypoints.demo.assignments import AssignmentWatch, open_cases_of
from ticketrouter.entrypoints.demo.banner import reachable, show_banner
from ticketrouter.entrypoints.demo.console import Directory, say
from ticketrouter.entrypoints.demo.decisions import DecisionTail
from ticketrouter.entrypoints.demo.desk import AgentDesk
from ticketrouter.entrypoints.demo.people import demo_people
from ticketrouter.entrypoints.demo.roster import demo_agents
from ticketrouter.entrypoints.demo.shift import Rota, log_off, log_on, set_presence
from ticketrouter.entrypoints.demo.stats import Stats
from ticketrouter.entrypoints.demo.stubs import (
    RPC_TIMEOUT_S,
    agent_stub,
    customer_name,
    customer_stub,
    routing_stub,
)
from ticketrouter.entrypoints.demo.traffic import Traffic
from ticketrouter.entrypoints.runtime import Runtime
from ticketrouter.v1 import routing_pb2

SUMMARY_EVERY_S = 5.0


class DemoSession:
    """The demo's moving parts around one running service."""

    def __init__(self, runtime: Runtime, rate: float) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.rate = rate
        self.grpc_target = reachable(settings.grpc_address, runtime.grpc_port)
        self.metrics_target = reachable(settings.metrics_address, runtime.metrics_port)
        self.stats = Stats()
        self.roster = demo_agents()
        self.rota = Rota()
        self.people = demo_people()
        self.traffic = Traffic(self.people, random.Random())
        self.channel = grpc.insecure_channel(self.grpc_target)
        self.directory = Directory(lookup=customer_name(customer_stub(self.channel)))
        self.routing = routing_stub(self.channel)
        self.agents = agent_stub(self.channel)
        self.desk = AgentDesk(self.routing, self.stats, self.directory, random.Random())
        self.watch = AssignmentWatch(self.routing, self.desk)
        self.tail = DecisionTail(
            runtime.bootstrap_servers, settings.decisions_topic, self.stats, self.directory
        )
        self.producer: KafkaProducer = create_producer(
            runtime.bootstrap_servers, client_id="ticketrouter-demo"
        )
        self.started = time.monotonic()

    def banner(self) -> None:
        show_banner(
            self.runtime,
            self.grpc_target,
            self.metrics_target,
            self.rate,
            len(self.people),
            self.roster,
        )

    def start(self) -> None:
        # The stream and the tail come first so the work agents pull as they come
        # online is seen like any other.
        self.tail.start()
        self.desk.start()
        self.watch.start()
        log_on(self.agents, self.roster)
        resumed = self.pick_up()
        if resumed:
            say(f"{resumed} case(s) left open by an earlier run are being worked again")

    def pick_up(self) -> int:
        ids = [agent.agent_id for agent in self.roster]
        return sum(
            self.desk.take(case_id, agent_id, topic, confirmed=True)
            for case_id, agent_id, topic in open_cases_of(self.routing, ids)
        )

    def send_one(self) -> None:
        contact = self.traffic.next_contact(datetime.now(UTC))
        self.directory.sent(contact.event_id, contact.person.name, contact.occurred_at)
        self.producer.send(
            self.runtime.settings.contacts_topic,
            key=contact.key,
            value=contact.payload,
            headers=[("content-type", b"application/json")],
        )
        self.stats.contact_sent()

    def summary(self, label: str = "") -> str:
        try:
            depth: int | None = self.routing.ListQueue(
                routing_pb2.ListQueueRequest(limit=1), timeout=RPC_TIMEOUT_S
            ).depth
        except grpc.RpcError:
            depth = None
        return self.stats.summary(time.monotonic() - self.started, depth, label)

    def pump(self, seconds: float, stop: threading.Event) -> None:
        """Send at `rate`, summarise every few seconds, until stopped or out of time."""
        now = time.monotonic()
        # The summaries' clock starts with the traffic, not with the worker's group join.
        self.started = now
        deadline = now + seconds if seconds > 0 else float("inf")
        next_send, next_summary = now, now + SUMMARY_EVERY_S
        while not stop.is_set() and not self.runtime.stopped.is_set():
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= next_send:
                self.send_one()
                # After a stall, carry on at the rate instead of sending a burst.
                next_send = max(next_send + 1 / self.rate, now - 1.0)
            if now >= next_summary:
                say(self.summary())
                self.change_shifts(now - self.started)
                self.pick_up()
                next_summary += SUMMARY_EVERY_S
            stop.wait(max(0.0, min(next_send, next_summary, deadline) - time.monotonic()))

    def change_shifts(self, elapsed_s: float) -> None:
        leaving, back = self.rota.changes(elapsed_s)
        try:
            set_presence(self.agents, sorted(leaving), "away")
            set_presence(self.agents, sorted(back), "available")
        except grpc.RpcError as err:
            say(f"-- a shift change failed ({err.code().name}); the next one carries on")
            return
        for agent_id in sorted(leaving):
            say(f"-- {agent_id} goes off shift (finishes their open cases, takes no new ones)")
        for agent_id in sorted(back):
            say(f"-- {agent_id} is back on shift")

    def close(self) -> None:
        """Stop traffic, let the agents log off, then print the last summary."""
        try:
            self.producer.flush(timeout=5)
        finally:
            self.producer.close(timeout=5)
        self.watch.close()
        self.desk.close()
        self.tail.close()
        say(self.summary(" final"))
        log_off(self.agents, self.roster)
        self.channel.close()
