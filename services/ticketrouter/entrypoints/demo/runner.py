"""`run_demo`: start the service, run a demo session against it, stop both cleanly."""

from __future__ import annotations

import signal
import sys
import threading
import time

from kafka.errors import KafkaError

from ticketrouter.config import Settings
from ticketrouter.entrypoints.demo.console import say
from ticketrouter.entrypoints.demo.session import DemoSession
from ticketrouter.entrypoints.runtime import Runtime


def run_demo(settings: Settings, rate: float, seconds: float) -> int:
    if rate <= 0:
        print("demo: --rate must be greater than 0", file=sys.stderr)
        return 2
    try:
        runtime = Runtime(settings).start()
    except (OSError, RuntimeError, KafkaError) as err:
        print(
            f"demo: the service could not start: {err}\n"
            "      (is another ticketrouter running? TICKETROUTER_GRPC_ADDRESS and "
            "TICKETROUTER_METRICS_ADDRESS choose other ports)",
            file=sys.stderr,
        )
        return 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return _run(runtime, rate, seconds, stop)
    finally:
        signal.signal(signal.SIGTERM, previous)
        runtime.stop()


def _run(runtime: Runtime, rate: float, seconds: float, stop: threading.Event) -> int:
    session = DemoSession(runtime, rate)
    session.banner()
    try:
        session.start()
        wait_for_worker(runtime)
        session.pump(seconds, stop)
    except KeyboardInterrupt:
        pass
    finally:
        say("stopping ...")
        session.close()
    if runtime.stopped.is_set():
        print("demo: the service stopped unexpectedly; see the log above", file=sys.stderr)
        return 1
    return 0


def wait_for_worker(runtime: Runtime, timeout: float = 30.0) -> None:
    """Hold the traffic until the worker owns its partitions: contacts sent earlier
    wait for the consumer group join (seconds), which says nothing about routing
    latency but would dominate its percentiles."""
    worker = runtime.worker
    if worker is None:
        return
    say("waiting for the Kafka worker to join its consumer group ...")
    deadline = time.monotonic() + timeout
    # assignment() only reads the consumer's subscription state: safe from here.
    while not worker.consumer.assignment() and time.monotonic() < deadline:
        if runtime.stopped.wait(0.1):
            return
