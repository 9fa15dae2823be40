"""Routing decisions, read back from Kafka as a real consumer would, one line each."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import UTC

from google.protobuf import json_format
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from ticketrouter.entrypoints.demo.console import Directory, event_lines, say
from ticketrouter.entrypoints.demo.stats import Stats
from ticketrouter.v1 import events_pb2

log = logging.getLogger(__name__)

_OUTCOME_LABELS = {"rejoined_case": "rejoined"}


class DecisionTail:
    """Prints each decision the router publishes on `routing-decisions`."""

    def __init__(self, bootstrap: str, topic: str, stats: Stats, directory: Directory) -> None:
        # No consumer group: reading every partition by assignment starts at once,
        # where a group join costs seconds, and nothing here needs committed offsets.
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="ticketrouter-demo-decisions",
        )
        self._topic = topic
        self._stats = stats
        self._directory = directory
        self._seen: deque[str] = deque(maxlen=20_000)
        self._seen_set: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-decisions", daemon=True)

    def start(self, timeout: float = 15.0) -> None:
        """Start at the end of the topic: this run's decisions, not an earlier run's."""
        deadline = time.monotonic() + timeout
        partitions = self._consumer.partitions_for_topic(self._topic)
        while not partitions and time.monotonic() < deadline:
            time.sleep(0.2)
            partitions = self._consumer.partitions_for_topic(self._topic)
        if not partitions:
            raise RuntimeError(f"topic {self._topic} has no partitions")
        assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        self._consumer.seek_to_end(*assigned)
        for tp in assigned:
            self._consumer.position(tp)  # resolve "end" now, before any contact is sent
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                polled = self._consumer.poll(timeout_ms=200)
            except KafkaError as err:
                log.warning("reading decisions failed; retrying", extra={"error": str(err)})
                self._stop.wait(1.0)
                continue
            for records in polled.values():
                for record in records:
                    self._show(record.value or b"")

    def _show(self, payload: bytes) -> None:
        decision = events_pb2.RoutingDecision()
        try:
            json_format.Parse(payload, decision, ignore_unknown_fields=True)
        except json_format.ParseError as err:
            log.warning("unreadable decision", extra={"error": str(err)[:200]})
            return
        if self._duplicate(decision.decision_id):
            return  # the outbox publishes at least once
        sent_at = self._directory.claim(decision.event_id, decision.customer_id)
        latency_ms = None
        if sent_at is not None:
            decided = decision.decided_at.ToDatetime(tzinfo=UTC)
            latency_ms = (decided - sent_at).total_seconds() * 1000
        self._stats.decision(
            decision.outcome, decision.case_id, bool(decision.event_id), latency_ms
        )
        say(_decision_line(decision, self._directory.who(decision.customer_id)))

    def _duplicate(self, decision_id: str) -> bool:
        if decision_id in self._seen_set:
            return True
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(decision_id)
        self._seen_set.add(decision_id)
        return False


def _decision_line(decision: events_pb2.RoutingDecision, who: str) -> str:
    outcome = _OUTCOME_LABELS.get(decision.outcome, decision.outcome)
    target = f"-> {decision.agent_id}" if decision.agent_id else "-> queue"
    return event_lines(
        decision.channel,
        who,
        decision.topic,
        outcome,
        target,
        decision.case_id,
        decision.customer_id,
        f"{decision.explanation.summary}{_known(decision.context)}",
    )


def _known(context: events_pb2.ContextPacket) -> str:
    """What the agent knows before saying hello, from the decision's context packet."""
    facts = []
    if context.previous_cases:
        facts.append(f"{len(context.previous_cases)} earlier case(s)")
    channels = {c.channel for c in context.recent_contacts}
    if len(channels) > 1:
        facts.append("seen on " + "+".join(sorted(channels)))
    if context.last_agent_id:
        facts.append(f"last with {context.last_agent_id} ({context.last_agent_outcome})")
    return f"  [knows: {'; '.join(facts)}]" if facts else ""
