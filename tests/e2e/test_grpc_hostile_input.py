"""Hostile requests over a real gRPC port: each is INVALID_ARGUMENT (or NOT_FOUND)
naming what is wrong, never UNKNOWN, INTERNAL or a traceback, and nothing that a
client stores can break a list for everyone afterwards."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import CollectorRegistry

from tests.builders import event_proto
from ticketrouter.adapters.grpc_pages import RESPONSE_BUDGET_BYTES
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings
from ticketrouter.entrypoints.grpc_server import ServerSecurity, create_server
from ticketrouter.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    config_pb2,
    config_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    routing_pb2,
    routing_pb2_grpc,
)

pytestmark = pytest.mark.e2e
TIMEOUT = 15.0
POLICY = """
skills: [billing]
rules:
  - name: everything
    when: "true"
    skills: {billing: 1}
"""


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    application = bootstrap(Settings(database_url=database_url), CollectorRegistry())
    yield application
    application.close()


@contextmanager
def channel_to(app: App, security: ServerSecurity | None = None) -> Iterator[grpc.Channel]:
    server, port, _health = create_server(app, "127.0.0.1:0", security=security)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        server.stop(None).wait()


def failure(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def refused(call: Callable[[], Any], field: str) -> str:
    """The call is INVALID_ARGUMENT and its message starts with `field`."""
    error = failure(call)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    details: str = error.details()
    assert details.startswith(field), details
    return details


def test_client_errors_that_were_unknown_are_invalid_argument(app: App) -> None:
    with channel_to(app) as channel:
        routing = routing_pb2_grpc.RoutingServiceStub(channel)
        customers = customers_pb2_grpc.CustomerServiceStub(channel)
        config = config_pb2_grpc.RoutingConfigServiceStub(channel)

        huge_id = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|" + b"9" * 20).decode()
        refused(
            lambda: customers.GetTimeline(
                customers_pb2.GetTimelineRequest(customer_id="c", page_token=huge_id),
                timeout=TIMEOUT,
            ),
            "page_token",
        )
        for field in ("since", "until"):
            far = Timestamp(seconds=2**40)
            request = routing_pb2.ResolutionReportRequest(**{field: far})
            refused(lambda r=request: routing.GetResolutionReport(r, timeout=TIMEOUT), field)

        nan = event_proto("nan-1", "nan@example.com")
        nan.attributes.update({"order_value": float("nan")})
        details = refused(
            lambda: routing.SubmitContact(
                routing_pb2.SubmitContactRequest(event=nan), timeout=TIMEOUT
            ),
            "event.attributes.order_value",
        )
        assert "finite" in details
        refused(
            lambda: config.DryRun(config_pb2.DryRunRequest(event=nan), timeout=TIMEOUT),
            "event.attributes.order_value",
        )
        nul = event_proto("nul\x00id", "nul@example.com")
        refused(
            lambda: routing.SubmitContact(
                routing_pb2.SubmitContactRequest(event=nul), timeout=TIMEOUT
            ),
            "event.event_id",
        )
        refused(
            lambda: routing.GetCase(routing_pb2.GetCaseRequest(case_id="a\x00b"), timeout=TIMEOUT),
            "case_id",
        )
        blank = event_proto(" ", "blank@example.com")
        refused(
            lambda: routing.SubmitContact(
                routing_pb2.SubmitContactRequest(event=blank), timeout=TIMEOUT
            ),
            "event.",
        )
        # Nothing of the refused contacts was written.
        listed = routing.ListCases(routing_pb2.ListCasesRequest(), timeout=TIMEOUT)
        assert list(listed.cases) == []


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (numbers and lengths below 128 suffice
    except for the payload length, encoded as a varint)."""
    length = len(payload)
    varint = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([number << 3 | 2]) + bytes(varint) + payload


def _deep_struct(depth: int) -> bytes:
    """Struct{"a": Value{struct_value: Struct{"a": ...}}}, `depth` levels deep."""
    struct = b""
    for _ in range(depth):
        value = _field(5, struct)  # Value.struct_value
        entry = _field(1, b"a") + _field(2, value)  # map entry: key, value
        struct = _field(1, entry)  # Struct.fields
    return struct


def test_requests_that_do_not_parse_are_invalid_argument_without_a_traceback(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    malformed = {
        "GetCase": (b"\x0a\x02\xff\xfe", "/ticketrouter.v1.RoutingService/GetCase"),
        "truncated": (b"\x0a\x10abc", "/ticketrouter.v1.RoutingService/GetCase"),
        "deep": (
            _field(1, _field(10, _deep_struct(200))),
            "/ticketrouter.v1.RoutingService/SubmitContact",
        ),
    }
    with channel_to(app) as channel:
        for name, (payload, method) in malformed.items():
            call = channel.unary_unary(method)
            error = failure(lambda c=call, p=payload: c(p, timeout=TIMEOUT))
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, (name, error.details())
            assert error.details().startswith("request: not a valid protobuf message")
        # Server reflection reads a stream of requests: one that does not parse too.
        reflect = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
        )
        error = failure(lambda: list(reflect(iter([b"\x0a\x02\xff\xfe"]), timeout=TIMEOUT)))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
        # The server still answers well-formed calls.
        routing = routing_pb2_grpc.RoutingServiceStub(channel)
        missing = failure(
            lambda: routing.GetCase(routing_pb2.GetCaseRequest(case_id="x"), timeout=TIMEOUT)
        )
        assert missing.code() is grpc.StatusCode.NOT_FOUND
    assert "Exception deserializing" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"


def test_not_found_never_echoes_a_huge_id(app: App) -> None:
    with channel_to(app) as channel:
        routing = routing_pb2_grpc.RoutingServiceStub(channel)
        agents = agents_pb2_grpc.AgentServiceStub(channel)
        case = failure(
            lambda: routing.GetCase(routing_pb2.GetCaseRequest(case_id="c" * 20_000), timeout=10)
        )
        assert case.code() is grpc.StatusCode.NOT_FOUND
        assert len(case.details()) < 200 and "20000 characters" in case.details()
        agent = failure(
            lambda: agents.GetAgent(agents_pb2.GetAgentRequest(agent_id="a" * 20_000), timeout=10)
        )
        assert agent.code() is grpc.StatusCode.NOT_FOUND and len(agent.details()) < 200


def _agent(agent_id: str, skills: int = 3) -> agents_pb2.Agent:
    return agents_pb2.Agent(
        agent_id=agent_id,
        name=f"Agent {agent_id}",
        team="care",
        skills={f"skill-{n}": 3 for n in range(skills)},
        languages=["en"],
        capacity=[agents_pb2.ChannelCapacity(channel="email", capacity=2)],
        presence="available",
    )


def test_agents_are_bounded_and_listed_page_by_page(app: App) -> None:
    with channel_to(app) as channel:
        agents = agents_pb2_grpc.AgentServiceStub(channel)
        upsert = agents.UpsertAgent
        refused(
            lambda: upsert(agents_pb2.UpsertAgentRequest(agent=_agent("a" * 10_000)), timeout=30),
            "agent.agent_id",
        )
        refused(
            lambda: upsert(
                agents_pb2.UpsertAgentRequest(agent=_agent("many", skills=100_000)), timeout=30
            ),
            "agent.skills",
        )
        stored = {f"agent-{n:04d}" for n in range(230)}
        for agent_id in sorted(stored):
            upsert(agents_pb2.UpsertAgentRequest(agent=_agent(agent_id, skills=200)), timeout=30)
        seen: list[str] = []
        token = ""
        pages = 0
        while True:
            page = agents.ListAgents(
                agents_pb2.ListAgentsRequest(page_size=100, page_token=token), timeout=30
            )
            assert page.ByteSize() <= RESPONSE_BUDGET_BYTES
            seen.extend(a.agent_id for a in page.agents)
            pages += 1
            token = page.next_page_token
            if not token:
                break
        assert seen == sorted(stored), "every agent once, in order"
        assert pages == 3
        refused(
            lambda: agents.ListAgents(
                agents_pb2.ListAgentsRequest(page_token="bm9wZQ=="), timeout=10
            ),
            "page_token",
        )
        refused(
            lambda: agents.ListAgents(agents_pb2.ListAgentsRequest(page_size=5000), timeout=10),
            "page_size",
        )


def test_policy_versions_are_listed_page_by_page(app: App) -> None:
    with channel_to(app) as channel:
        config = config_pb2_grpc.RoutingConfigServiceStub(channel)
        for n in range(60):
            source = POLICY + f"# revision {n}\n"
            config.ApplyPolicy(
                config_pb2.ApplyPolicyRequest(source=source, author="ops"), timeout=30
            )
        newest = config.ListPolicyVersions(
            config_pb2.ListPolicyVersionsRequest(limit=2), timeout=30
        )
        top = newest.versions[0].version
        assert top > 60 and [v.version for v in newest.versions] == [top, top - 1]
        versions: list[int] = []
        token = ""
        while True:
            page = config.ListPolicyVersions(
                config_pb2.ListPolicyVersionsRequest(page_token=token), timeout=30
            )
            versions.extend(v.version for v in page.versions)
            token = page.next_page_token
            if not token:
                break
        assert versions == list(range(top, 0, -1)), "every version once, newest first"
        details = refused(
            lambda: config.RollbackPolicy(
                config_pb2.RollbackPolicyRequest(version=1, author=" "), timeout=10
            ),
            "author",
        )
        assert "who rolls back" in details


def test_refused_calls_do_not_flood_the_log(app: App, caplog: pytest.LogCaptureFixture) -> None:
    from ticketrouter.adapters.grpc_auth import TokenTable

    caplog.set_level(logging.INFO)
    security = ServerSecurity(TokenTable(platform=["p-0123456789abcdef"]))
    with channel_to(app, security) as channel:
        for n in range(50):
            call = channel.unary_unary(f"/probe.Service/Method{n}")
            failure(lambda c=call: c(b"", timeout=TIMEOUT))
    refusals = [r for r in caplog.records if r.getMessage() == "gRPC call refused"]
    assert 1 <= len(refusals) <= 2, len(refusals)
