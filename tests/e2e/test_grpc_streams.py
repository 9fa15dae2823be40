"""Open streams never keep anyone waiting: desks, health watches and reflection
streams, with and without tokens, beside a health check and a unary call."""

from __future__ import annotations

import queue
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.e2e.progress import wait_for_progress
from tests.e2e.test_grpc_security import (
    PLATFORM,
    TOKENS,
    app,  # noqa: F401  (the fixture)
    code_of,
    get_unknown_case,
    health_of,
    routing,
    serving,
)
from ticketrouter.bootstrap import App
from ticketrouter.entrypoints.grpc_server import MAX_OPEN_STREAMS_WITHOUT_TOKEN, ServerSecurity
from ticketrouter.v1 import routing_pb2

STREAM_TIMEOUT = 300.0  # the streams outlive the test; the server stop ends them
ANSWER_TIMEOUT = 60.0  # generous: what is checked is that an answer comes at all

Metadata = tuple[tuple[str, str], ...]


def desk(channel: grpc.Channel, agent_id: str, metadata: Metadata) -> Any:
    request = routing_pb2.WatchAssignmentsRequest(agent_id=agent_id)
    return routing(channel).WatchAssignments(request, metadata=metadata, timeout=STREAM_TIMEOUT)


def health_watch(channel: grpc.Channel, metadata: Metadata) -> Any:
    return health_of(channel).Watch(
        health_pb2.HealthCheckRequest(service=""), metadata=metadata, timeout=STREAM_TIMEOUT
    )


class Reflection:
    """A reflection stream kept open: one question asked, more could follow."""

    def __init__(self, channel: grpc.Channel, metadata: Metadata) -> None:
        self._requests: queue.Queue[reflection_pb2.ServerReflectionRequest | None] = queue.Queue()
        self._requests.put(reflection_pb2.ServerReflectionRequest(list_services=""))
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)  # type: ignore[no-untyped-call]
        self.call = stub.ServerReflectionInfo(
            iter(self._requests.get, None), metadata=metadata, timeout=STREAM_TIMEOUT
        )

    def answered(self) -> bool:
        try:
            next(self.call)
        except grpc.RpcError as err:
            assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, err
            return False
        return True

    def close(self) -> None:
        self._requests.put(None)
        self.call.cancel()


def first_answer(stream: Any) -> bool:
    """True when the stream answered (it is open), False when it was refused for
    holding too many streams."""
    try:
        next(stream)
    except grpc.RpcError as err:
        assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, err
        return False
    return True


@pytest.mark.parametrize("streams", [16, 64])
def test_open_streams_never_delay_a_health_check_or_a_call(app: App, streams: int) -> None:  # noqa: F811
    with (
        serving(app, ServerSecurity(TOKENS)) as running,
        grpc.insecure_channel(running.target) as desks_channel,
        grpc.insecure_channel(running.target) as watch_channel,
        grpc.insecure_channel(running.target) as probe_channel,
    ):
        desks = [desk(desks_channel, f"desk-{i}", PLATFORM) for i in range(streams)]
        wait_for_progress(lambda: app.feed.subscribers, streams, "desk streams open")
        refused_desks = [desk(desks_channel, f"anonymous-{i}", ()) for i in range(streams)]
        for stream in refused_desks:
            assert code_of(lambda s=stream: next(s)) is grpc.StatusCode.UNAUTHENTICATED

        with_token = [health_watch(watch_channel, PLATFORM) for _ in range(streams)]
        assert all(first_answer(w) for w in with_token)
        without_token = [health_watch(watch_channel, ()) for _ in range(streams)]
        held_watches = sum(first_answer(w) for w in without_token)
        reflections = [Reflection(watch_channel, ()) for _ in range(streams)]
        reflections += [Reflection(watch_channel, PLATFORM) for _ in range(streams)]
        held = [r.answered() for r in reflections]
        try:
            # Whoever opened them, the streams hold no thread a check or call needs.
            check = health_of(probe_channel).Check(
                health_pb2.HealthCheckRequest(), timeout=ANSWER_TIMEOUT
            )
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            assert (
                code_of(lambda: get_unknown_case(probe_channel, PLATFORM))
                is grpc.StatusCode.NOT_FOUND
            )
            assert not any(d.done() for d in desks), "a desk stream ended"
            assert not any(w.done() for w in with_token), "a health watch with a token ended"
            # Callers without a token hold a few streams at most; with one, all stay.
            assert held_watches + sum(held[:streams]) <= MAX_OPEN_STREAMS_WITHOUT_TOKEN
            assert held_watches >= 1
            assert all(held[streams:])
        finally:
            for stream in (*desks, *with_token, *without_token):
                stream.cancel()
            for reflection in reflections:
                reflection.close()
