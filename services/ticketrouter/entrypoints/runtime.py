"""Start and stop the whole service in one process: broker (when embedded),
database, gRPC server, metrics endpoint and the Kafka worker."""

from __future__ import annotations

import logging
import socketserver
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from prometheus_client import CollectorRegistry, start_http_server

from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.decision_topic import DecisionTopicReader
from ticketrouter.adapters.grpc_health import HealthBoard
from ticketrouter.adapters.kafka import OutboxRelay, create_consumer, create_producer, ensure_topics
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings
from ticketrouter.entrypoints.grpc_server import (
    GRACE_SECONDS,
    GrpcServer,
    ServerSecurity,
    announce_shutdown,
    create_server,
    set_worker_health,
    stop_gracefully,
)
from ticketrouter.entrypoints.worker import ContactWorker
from ticketrouter.service_layer.ports import Clock

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 0.2
GAUGE_EVERY_TICKS = 5  # once a second


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


@dataclass
class Runtime:
    settings: Settings
    with_worker: bool = True
    with_grpc: bool = True
    with_metrics: bool = True
    # How long a stopping worker waits for the broker to confirm it left the group
    # (Kafka answers in milliseconds; unconfirmed, the partitions move on only after
    # the session timeout). Best effort: stopping never fails on it.
    leave_group_timeout_ms: int = 2000
    # The time every handler is given (None: the system's); a test steps its own.
    clock: Clock | None = None
    app: App = field(init=False)
    bootstrap_servers: str = field(init=False, default="")
    grpc_port: int = field(init=False, default=0)
    metrics_port: int = field(init=False, default=0)
    worker: ContactWorker | None = field(init=False, default=None)
    _stack: ExitStack = field(init=False, default_factory=ExitStack)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _threads: list[threading.Thread] = field(init=False, default_factory=list)
    # A thread of the service crashed (e.g. the worker halted on invalid input): the
    # process must end in failure, so a supervisor notices and a person looks.
    failed: bool = field(init=False, default=False)
    _server: GrpcServer | None = field(init=False, default=None)
    _health: HealthBoard | None = field(init=False, default=None)
    _relay: OutboxRelay | None = field(init=False, default=None)
    _worker_stalled: bool = field(init=False, default=False)

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        settings = self.settings
        self.bootstrap_servers = settings.kafka_bootstrap
        if not self.bootstrap_servers:
            broker = EmbeddedBroker(log_path=Path(".ticketrouter/broker.log")).start()
            self._stack.callback(broker.stop)
            self.bootstrap_servers = broker.bootstrap
            log.info("embedded broker started", extra={"bootstrap": broker.bootstrap})
        ensure_topics(
            self.bootstrap_servers,
            [settings.contacts_topic, settings.decisions_topic, settings.dlq_topic],
            settings.topic_partitions,
        )
        self.app = bootstrap(settings, CollectorRegistry(), self.clock)
        self._stack.callback(self.app.close)
        producer = create_producer(self.bootstrap_servers)
        self._stack.callback(producer.close, 5)
        relay = OutboxRelay(
            self.app.database.writer,
            producer,
            settings.decisions_topic,
            reader=self.app.database.reader,
        )
        self._relay = relay
        self.app.publish_outbox = relay.send
        if self.with_metrics:
            host, port = _host_port(settings.metrics_address)
            http_server, _thread = start_http_server(port, host, registry=self.app.registry)
            self._stack.callback(_close_in_background, http_server)
            self.metrics_port = int(http_server.server_address[1])
        if self.with_grpc:
            # Desks hear of every process's decisions from the topic (see
            # adapters/decision_topic.py), read from here on, before a desk can call.
            reader = DecisionTopicReader(
                self.bootstrap_servers, settings.decisions_topic, self.app.feed
            ).start()
            self._stack.callback(reader.stop)
            self._server, self.grpc_port, self._health = create_server(
                self.app, settings.grpc_address, security=ServerSecurity.from_settings(settings)
            )
            self._server.start()
        else:
            self.app.feed.close()  # no desks here: nothing to hand on or remember
        self._start_thread("housekeeping", lambda: self._housekeeping(relay))
        if self.with_worker:
            consumer = create_consumer(
                self.bootstrap_servers,
                settings.contacts_topic,
                settings.group_id,
                settings.batch_size,
                settings.max_poll_interval_ms,
            )
            # Offsets are committed explicitly after each batch, never on close.
            self._stack.callback(
                consumer.close, autocommit=False, timeout_ms=self.leave_group_timeout_ms
            )
            self.worker = ContactWorker(self.app, consumer, producer, relay, self._stop)
            if self._health is not None:
                set_worker_health(self._health, serving=True)
            self._start_thread("worker", self.worker.run)
            # Its own thread: housekeeping can wait 30 s on a locked database itself.
            self._start_thread("watchdog", self._watchdog)
        log.info(
            "ticketrouter serving",
            extra={
                "grpc": f"{_host_port(settings.grpc_address)[0]}:{self.grpc_port}"
                if self.with_grpc
                else "off",
                "metrics": f"http://{_host_port(settings.metrics_address)[0]}:"
                f"{self.metrics_port}/metrics"
                if self.with_metrics
                else "off",
                "kafka": self.bootstrap_servers,
                "worker": "on" if self.with_worker else "off",
            },
        )

    def _start_thread(self, name: str, target: object) -> None:
        def guarded() -> None:
            try:
                target()  # type: ignore[operator]
            except Exception:
                log.exception("%s crashed; stopping", name)
                self.failed = True
                self._stop.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _housekeeping(self, relay: OutboxRelay) -> None:
        """Publish decisions made on the gRPC path (the worker also drains after each
        batch), fire due routing steps and lapsed offers once a second, count the
        resolutions whose FCR window closed, and keep the queue and agent gauges
        fresh, whoever changed them."""
        ticks = 0
        while not self._stop.wait(HOUSEKEEPING_SECONDS):
            ticks += 1
            if ticks % GAUGE_EVERY_TICKS == 0:
                try:  # apart, so a broker outage never delays a new policy version
                    self.app.reload_policy()
                except Exception:
                    log.exception("checking the routing policy version failed; will retry")
            try:
                relay.drain()
                if ticks % GAUGE_EVERY_TICKS == 0:
                    self.app.advance_queue()
                    self.app.mature_resolutions()
                    self.app.refresh_gauges()
            except Exception:
                log.exception("housekeeping failed; will retry")

    def _watchdog(self) -> None:
        while not self._stop.wait(HOUSEKEEPING_SECONDS):
            self._watch_worker()

    def _watch_worker(self) -> None:
        """A stalled worker (a batch in hand past TICKETROUTER_STALL_SECONDS) turns
        health NOT_SERVING, for the whole server and for WORKER_HEALTH_SERVICE, until
        it commits again; the batch's age is a gauge for the alert."""
        worker = self.worker
        if worker is None:
            return
        self.app.metrics.set_batch_age(worker.batch_age())
        stalled = worker.stalled
        if stalled == self._worker_stalled:
            return
        self._worker_stalled = stalled
        if stalled:
            log.error(
                "worker stalled: its batch is not committed; health is NOT_SERVING",
                extra={"batch_age_s": round(worker.batch_age(), 1)},
            )
        else:
            log.info("worker progressing again; health is SERVING")
        if self._health is not None and not self._stop.is_set():
            set_worker_health(self._health, serving=not stalled)

    @property
    def stopped(self) -> threading.Event:
        return self._stop

    def stop(self) -> None:
        """Drain, then close: health says NOT_SERVING so balancers move traffic away;
        the worker finishes and commits the batch in hand while in-flight gRPC calls
        finish within the grace period; decisions those calls made are published;
        only then do the producer, consumer, database and broker close."""
        server, self._server = self._server, None
        if self._health is not None:
            announce_shutdown(self._health)
        if server is not None:
            log.info(
                "stopping: health is NOT_SERVING; desk streams are ended, calls in flight "
                "get up to %g s",
                GRACE_SECONDS,
            )
            self.app.feed.close()
        self._stop.set()  # the worker checks it between batches, never mid-batch
        if server is not None and self._health is not None:
            stop_gracefully(server, self._health)
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        self._publish_last_decisions()
        self._stack.close()

    def _publish_last_decisions(self) -> None:
        """Housekeeping has stopped, but calls served during the grace period may
        have left decisions in the outbox: publish them before the producer closes."""
        relay, self._relay = self._relay, None
        if relay is None:
            return
        try:
            relay.drain()
        except Exception:
            # They stay in the outbox and go out with the next start of any replica.
            log.exception("could not publish the last decisions; they stay in the outbox")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _close_in_background(http_server: socketserver.BaseServer) -> None:
    """The metrics server notices a shutdown only at its next poll (half a second):
    nothing else waits on it, so it closes its socket on its own time."""

    def close() -> None:
        http_server.shutdown()
        http_server.server_close()

    threading.Thread(target=close, name="metrics-close", daemon=True).start()
