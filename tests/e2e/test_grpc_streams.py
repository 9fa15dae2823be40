"""Open streams never keep anyone waiting: desks, health watches and reflection
streams, with and without tokens, beside a health check and a unary call."""

from __future__ import annotations

import queue
from dataclasses import dataclass
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

STREAMS_PER_CHANNEL = 100
# Each channel its own connection: grpc shares one between channels to one target.
CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)
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


@dataclass(frozen=True)
class Mix:
    """Streams held with a token, by kind, and attempts of each kind without one."""

    desks: int
    watches: int
    reflections: int
    anonymous: int

    @property
    def held(self) -> int:
        return self.desks + self.watches + self.reflections


# 16 and 64 of each kind; then the 1,000 desks a server is sized for and 800 more
# streams (1,000 of every kind would pass the 2,048 calls and streams in all).
MIXES = [Mix(16, 16, 16, 16), Mix(64, 64, 64, 64), Mix(1000, 400, 400, 64)]
MIX_NAMES = ["16-of-each", "64-of-each", "1000-desks-and-800-more"]


def channels_for(target: str, streams: int) -> list[grpc.Channel]:
    """A connection per STREAMS_PER_CHANNEL streams, as desks spread over machines."""
    return [
        grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        for _ in range(-(-streams // STREAMS_PER_CHANNEL))
    ]


@pytest.mark.parametrize("mix", MIXES, ids=MIX_NAMES)
def test_open_streams_never_delay_a_health_check_or_a_call(app: App, mix: Mix) -> None:  # noqa: F811
    with (
        serving(app, ServerSecurity(TOKENS)) as running,
        grpc.insecure_channel(running.target) as watch_channel,
        grpc.insecure_channel(running.target) as probe_channel,
    ):
        desk_channels = channels_for(running.target, mix.desks)
        desks = [
            desk(desk_channels[i // STREAMS_PER_CHANNEL], f"desk-{i}", PLATFORM)
            for i in range(mix.desks)
        ]
        wait_for_progress(lambda: app.feed.subscribers, mix.desks, "desk streams open")
        refused_desks = [desk(watch_channel, f"anonymous-{i}", ()) for i in range(mix.anonymous)]
        for stream in refused_desks:
            assert code_of(lambda s=stream: next(s)) is grpc.StatusCode.UNAUTHENTICATED

        with_token = [health_watch(watch_channel, PLATFORM) for _ in range(mix.watches)]
        assert all(first_answer(w) for w in with_token)
        without_token = [health_watch(watch_channel, ()) for _ in range(mix.anonymous)]
        held_watches = sum(first_answer(w) for w in without_token)
        reflections = [Reflection(watch_channel, ()) for _ in range(mix.anonymous)]
        reflections += [Reflection(watch_channel, PLATFORM) for _ in range(mix.reflections)]
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
            assert app.feed.subscribers == mix.desks
            assert not any(d.done() for d in desks), "a desk stream ended"
            assert not any(w.done() for w in with_token), "a health watch with a token ended"
            # Callers without a token hold a few streams at most; with one, all stay.
            assert held_watches + sum(held[: mix.anonymous]) <= MAX_OPEN_STREAMS_WITHOUT_TOKEN
            assert held_watches >= 1
            assert all(held[mix.anonymous :])
        finally:
            for stream in (*desks, *with_token, *without_token):
                stream.cancel()
            for reflection in reflections:
                reflection.close()
            for channel in desk_channels:
                channel.close()
