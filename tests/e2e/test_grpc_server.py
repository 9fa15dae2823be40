"""The server a platform or grpcurl sees: reflection, health, every service."""

from __future__ import annotations

import queue
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.e2e.conftest import Service, wait_until
from ticketrouter.v1 import config_pb2, config_pb2_grpc, routing_pb2


def test_reflection_lists_every_service(service: Service) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(service.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [response] = list(stub.ServerReflectionInfo(iter([request])))
    names = {s.name for s in response.list_services_response.service}
    assert names >= {
        "ticketrouter.v1.RoutingService",
        "ticketrouter.v1.AgentService",
        "ticketrouter.v1.CustomerService",
        "ticketrouter.v1.RoutingConfigService",
        "grpc.health.v1.Health",
    }


def test_health_is_serving_for_the_server_and_each_service(service: Service) -> None:
    stub = health_pb2_grpc.HealthStub(service.channel)
    for name in ("", "ticketrouter.v1.RoutingService"):
        answer = stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_health_lists_every_service_it_checks(service: Service) -> None:
    stub = health_pb2_grpc.HealthStub(service.channel)
    listed = stub.List(health_pb2.HealthListRequest(), timeout=10).statuses
    assert {"", "ticketrouter.v1.RoutingService", "ticketrouter.worker"} <= set(listed)
    for name, status in listed.items():
        checked = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
        assert status.status == checked.status, name


def test_the_rules_in_force_can_be_read_and_a_draft_validated(service: Service) -> None:
    stub = config_pb2_grpc.RoutingConfigServiceStub(service.channel)
    policy = stub.GetActivePolicy(config_pb2.GetActivePolicyRequest())
    assert {r.name for r in policy.rules} >= {"refunds", "default"}
    verdict = stub.ValidatePolicy(
        config_pb2.ValidatePolicyRequest(source="rules:\n  - {name: x, skills: {a: 3}}")
    )
    assert not verdict.valid
    assert [(e.rule, e.field) for e in verdict.errors] == [("x", "skills.a")]
    try:
        stub.ApplyPolicy(config_pb2.ApplyPolicyRequest(source=""))
    except grpc.RpcError as err:
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert err.details().startswith("author:")
    else:
        raise AssertionError("ApplyPolicy without an author must be refused")


def test_stopping_ends_open_desk_streams_so_they_reconnect_elsewhere(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """A desk's stream would otherwise hold the stop for the whole grace period and
    then be cancelled without a word; it ends with UNAVAILABLE saying why."""
    stream = service.routing.WatchAssignments(
        routing_pb2.WatchAssignmentsRequest(agent_id="ana"), timeout=120
    )
    ended: queue.Queue[grpc.RpcError] = queue.Queue()

    def watch() -> None:
        try:
            for _ in stream:
                pass
        except grpc.RpcError as err:
            ended.put(err)

    threading.Thread(target=watch, daemon=True).start()
    wait_until(lambda: service.runtime.app.feed.subscribers > 0, 30, "the stream to open")
    with caplog.at_level("INFO", logger="ticketrouter.entrypoints.runtime"):
        service.runtime.stop()
    err = ended.get(timeout=30)
    assert err.code() is grpc.StatusCode.UNAVAILABLE
    assert "shutting down; reconnect" in (err.details() or "")
    assert any("desk streams are ended" in r.getMessage() for r in caplog.records)


def test_resuming_a_desk_needs_its_agent(service: Service) -> None:
    """Only an agent's own decisions are held for a reconnect, so the call says so."""
    stream = service.routing.WatchAssignments(
        routing_pb2.WatchAssignmentsRequest(after_decision_id="d1"), timeout=10
    )
    try:
        list(stream)
    except grpc.RpcError as err:
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert (err.details() or "").startswith("after_decision_id:")
    else:
        raise AssertionError("after_decision_id without agent_id must be refused")
