"""Every process's decisions, from `routing-decisions`, to this server's desks.

With workers scaled out (`serve --without-worker` and N `worker` processes) the
process that routes a case is rarely the one holding its agent's desk stream.
Every decision already goes through the outbox to `routing-decisions`, on SQLite
and PostgreSQL alike (LISTEN/NOTIFY would serve PostgreSQL only), so each server
reads that topic itself: with no consumer group (it assigns itself every partition
and commits nothing, as every server must see every decision) and from the latest
offset (desks want what happens from now on; a reconnecting desk catches up from
the feed's memory, not from the topic's history).

The reader is a thread of its own: kafka-python blocks, and the event loop that
serves the streams must never wait on the broker. It hands decisions to the feed,
whose delivery to a desk is a call_soon_threadsafe.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from google.protobuf import json_format
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from ticketrouter.adapters.feed import AssignmentFeed
from ticketrouter.adapters.kafka import RECONNECT_BACKOFF_MAX_MS
from ticketrouter.adapters.log_limits import LimitedLog
from ticketrouter.v1.events_pb2 import RoutingDecision

log = logging.getLogger(__name__)

POLL_MS = 200  # how long a stop may wait for the poll in hand
RETRY_SECONDS = 1.0


def parse_decision(payload: bytes) -> RoutingDecision | None:
    """The decision, if it names an agent (queued ones reach no desk); ValueError
    when the payload is not a RoutingDecision in the JSON mapping."""
    fields: Any = json.loads(payload)
    if not isinstance(fields, dict):
        raise ValueError("not a JSON object")
    if not fields.get("agent_id"):
        return None
    return json_format.ParseDict(fields, RoutingDecision(), ignore_unknown_fields=True)


class DecisionTopicReader:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        feed: AssignmentFeed,
        partitions_timeout: float = 30.0,
        **overrides: Any,
    ) -> None:
        options: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "group_id": None,
            "enable_auto_commit": False,
            # The wait is the floor of a desk's latency on Tansu, which answers a
            # waiting fetch only when it expires (see create_consumer).
            "fetch_max_wait_ms": 20,
            "client_id": "ticketrouter-desks",
            "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        }
        options.update(overrides)
        self._topic = topic
        self._feed = feed
        self._partitions_timeout = partitions_timeout
        self._consumer = KafkaConsumer(**options)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._limited = LimitedLog(log)
        self.delivered = 0

    def start(self) -> DecisionTopicReader:
        """Returns once the reader holds a position on every partition: a decision
        committed after this reaches the desks."""
        partitions = self._partitions()
        self._consumer.assign(partitions)
        self._consumer.seek_to_end(*partitions)
        for partition in partitions:
            self._consumer.position(partition)  # resolves "the end" now, not at the poll
        self._thread = threading.Thread(target=self._run, name="desk-decisions", daemon=True)
        self._thread.start()
        return self

    def _partitions(self) -> list[TopicPartition]:
        deadline = time.monotonic() + self._partitions_timeout
        while True:
            numbers = self._consumer.partitions_for_topic(self._topic)
            if numbers:
                return [TopicPartition(self._topic, n) for n in sorted(numbers)]
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {self._topic} has no partitions")
            self._consumer.poll(timeout_ms=100)  # fetches metadata

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batches = self._consumer.poll(timeout_ms=POLL_MS)
            except KafkaError as err:
                self._limited.log(
                    logging.WARNING,
                    "poll",
                    "reading routing decisions for desks failed; retrying",
                    {"error": str(err)},
                )
                self._stop.wait(RETRY_SECONDS)
                continue
            for records in batches.values():
                for record in records:
                    self._hand_on(record.value)

    def _hand_on(self, payload: bytes) -> None:
        try:
            decision = parse_decision(payload)
        except (ValueError, json_format.ParseError) as err:
            # Our own topic: a bad message is a bug elsewhere, not a reason to stop
            # every desk's feed.
            self._limited.log(
                logging.ERROR, "decode", "a routing decision could not be read", {"error": str(err)}
            )
            return
        if decision is not None and self._feed.publish(decision):
            self.delivered += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._consumer.close(autocommit=False)
