"""Property: no request, however malformed, gets UNKNOWN or INTERNAL from any RPC.

Requests are generated from the protobuf descriptors of every service, so a field
added later is fuzzed too: texts with NULs and 5,000 characters, every int32 and
int64, NaN and infinities, timestamps far outside their range, Structs with
non-finite numbers, nested messages and repeated fields. Each goes over a real
port to a server on a real database; the status code must be one a client can act
on (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION...) or OK.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from tests.builders import event_proto
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings
from ticketrouter.entrypoints.grpc_server import create_server
from ticketrouter.v1 import agents_pb2, config_pb2, customers_pb2, routing_pb2

pytestmark = pytest.mark.e2e

SERVICES = (
    routing_pb2.DESCRIPTOR.services_by_name["RoutingService"],
    agents_pb2.DESCRIPTOR.services_by_name["AgentService"],
    customers_pb2.DESCRIPTOR.services_by_name["CustomerService"],
    config_pb2.DESCRIPTOR.services_by_name["RoutingConfigService"],
)
METHODS = [method for service in SERVICES for method in service.methods]
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
TIMEOUT = 20.0
MAX_DEPTH = 3

# Texts a hostile client sends, beside values the services know (so that some
# requests get past the first check and reach the deeper ones).
TEXTS = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "x" * 5000,
            "email",
            "voice",
            "available",
            "contact.received",
            "billing",
            "agent-1",
            "resolved",
            "9" * 30,
            "2026-01-01T00:00:00Z",
            "bm9wZQ==",
        ]
    ),
)
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXTS,
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXTS, inner, max_size=3)),
    max_leaves=6,
)
INT32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, -1, 5000]))
INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 1, -1, 2**40]))
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)
DOUBLES = st.floats(allow_nan=True, allow_infinity=True)

_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_STRING: TEXTS,
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=16),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_SFIXED32: INT32,
    FieldDescriptor.TYPE_ENUM: INT32,
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
    FieldDescriptor.TYPE_SFIXED64: INT64,
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: st.integers(0, 2**64 - 1),
    FieldDescriptor.TYPE_FLOAT: FLOATS,
    FieldDescriptor.TYPE_DOUBLE: DOUBLES,
}


def _fill(message: Message, draw: Any, depth: int, sparse: bool = False) -> None:
    """Set some fields of `message` to hostile values; `sparse` sets few of them,
    so that a valid base request mostly stays valid around them."""
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Struct":
        message.update(draw(st.dictionaries(TEXTS, JSON, max_size=3)))  # type: ignore[attr-defined]
        return
    if name == "google.protobuf.Timestamp":
        message.seconds = draw(INT64)  # type: ignore[attr-defined]
        message.nanos = draw(st.integers(0, 999_999_999))  # type: ignore[attr-defined]
        return
    for field in message.DESCRIPTOR.fields:
        if draw(st.integers(0, 5 if sparse else 1)) != 0:
            continue
        target = getattr(message, field.name)
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_field = entry.fields_by_name["value"]
            for _ in range(draw(st.integers(0, 3))):
                key = draw(_SCALARS[entry.fields_by_name["key"].type])
                if value_field.message_type is None:
                    target[key] = draw(_SCALARS[value_field.type])
                elif depth < MAX_DEPTH:
                    _fill(target[key], draw, depth + 1, sparse)
        elif field.is_repeated:
            for _ in range(draw(st.integers(0, 3))):
                if field.message_type is None:
                    target.append(draw(_SCALARS[field.type]))
                elif depth < MAX_DEPTH:
                    _fill(target.add(), draw, depth + 1, sparse)
        elif field.message_type is not None:
            if depth < MAX_DEPTH:
                _fill(target, draw, depth + 1, sparse)
                target.SetInParent()
        else:
            setattr(message, field.name, draw(_SCALARS[field.type]))


def _bases() -> dict[str, Message]:
    """A valid request per method where one exists, for hostile values to be laid
    over: a NaN only reaches the deeper checks inside an otherwise valid event."""
    event = event_proto("base-1", "base@example.com")
    event.attributes.update({"order_value": 10.0})
    agent = agents_pb2.Agent(
        agent_id="agent-1",
        name="Agent One",
        skills={"billing": 3},
        capacity=[agents_pb2.ChannelCapacity(channel="email", capacity=2)],
        presence="available",
    )
    return {
        "SubmitContact": routing_pb2.SubmitContactRequest(event=event),
        "DryRun": config_pb2.DryRunRequest(event=event),
        "UpsertAgent": agents_pb2.UpsertAgentRequest(agent=agent),
        "GetResolutionReport": routing_pb2.ResolutionReportRequest(channel="email"),
    }


BASES = _bases()


def _known_hostile(method: str) -> list[Message]:
    """The hostile values found by hand, laid over the valid base: each is tried
    first, before the generated ones."""
    base = BASES.get(method)
    if base is None:
        return []
    found: list[Message] = []
    for value in (float("nan"), float("inf"), float("-inf")):
        request = type(base)()
        request.CopyFrom(base)
        if hasattr(request, "event"):
            request.event.attributes.update({"order_value": value})
        elif hasattr(request, "agent"):
            request.agent.authority["refund"] = value
        else:
            continue
        found.append(request)
    if hasattr(base, "event"):
        request = type(base)()
        request.CopyFrom(base)
        request.event.event_id = "nul\x00id"
        found.append(request)
    if hasattr(base, "since"):
        for field in ("since", "until"):
            request = type(base)()
            request.CopyFrom(base)
            getattr(request, field).seconds = 2**40
            found.append(request)
    return found


@st.composite
def requests(draw: Any, method: MethodDescriptor) -> Message:
    message = GetMessageClass(method.input_type)()
    base = BASES.get(method.name)
    based = base is not None and draw(st.booleans())
    if based:
        message.CopyFrom(base)
    _fill(message, draw, 0, sparse=based)
    return message


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def channel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[grpc.Channel]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('no-unknown')}/router.db"
    else:
        from tests.conftest import _drop_postgres, _postgres_or_skip

        url = _postgres_or_skip()
        request.addfinalizer(lambda: _drop_postgres(url))
    app: App = bootstrap(Settings(database_url=url), CollectorRegistry())
    server, port, _health = create_server(app, "127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as opened:
        yield opened
    server.stop(None).wait()
    app.close()


def _code(channel: grpc.Channel, method: MethodDescriptor, request: Message) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path, request_serializer=type(request).SerializeToString)
            # A stream that is accepted stays open: a moment is enough to see it was.
            for _ in stream(request, timeout=0.2):
                break
        else:
            call = channel.unary_unary(path, request_serializer=type(request).SerializeToString)
            call(request, timeout=TIMEOUT)
    except grpc.RpcError as err:
        return err.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_no_request_gets_unknown_or_internal(
    channel: grpc.Channel, method: MethodDescriptor
) -> None:
    @settings(
        # Each accepted stream costs its whole deadline: fewer of them.
        max_examples=6 if method.server_streaming else 20,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(request=requests(method))
    def check(request: Message) -> None:
        code = _code(channel, method, request)
        assert code not in NEVER, f"{method.name} answered {code.name} to {request!r:.500}"

    for request in _known_hostile(method.name):
        code = _code(channel, method, request)
        assert code not in NEVER, f"{method.name} answered {code.name} to {request!r:.500}"
    check()
