"""Who may call what: the role table and the token check, without a server."""

from __future__ import annotations

import grpc
import pytest

from ticketrouter.adapters.grpc_auth import (
    PLATFORM_METHODS,
    Role,
    TokenTable,
    authorize,
    bearer_token,
    required_role,
)
from ticketrouter.v1 import agents_pb2, customers_pb2, routing_pb2

TOKENS = TokenTable(platform=["desk-token-1", "desk-token-2"], admin=["ops-token"])


def _bearer(token: str) -> list[tuple[str, str | bytes]]:
    return [("authorization", f"Bearer {token}")]


@pytest.mark.parametrize(
    ("method", "role"),
    [
        ("/ticketrouter.v1.RoutingService/GetCase", Role.PLATFORM),
        ("/ticketrouter.v1.RoutingService/WatchAssignments", Role.PLATFORM),
        ("/ticketrouter.v1.AgentService/UpsertAgent", Role.PLATFORM),
        ("/ticketrouter.v1.CustomerService/GetCustomer", Role.PLATFORM),
        ("/ticketrouter.v1.CustomerService/LookupCustomer", Role.PLATFORM),
        ("/ticketrouter.v1.CustomerService/GetTimeline", Role.PLATFORM),
        ("/ticketrouter.v1.CustomerService/LinkIdentity", Role.ADMIN),
        ("/ticketrouter.v1.CustomerService/UnlinkIdentity", Role.ADMIN),
        ("/ticketrouter.v1.CustomerService/MergeCustomers", Role.ADMIN),
        ("/ticketrouter.v1.RoutingConfigService/GetActivePolicy", Role.ADMIN),
        ("/ticketrouter.v1.RoutingConfigService/ValidatePolicy", Role.ADMIN),
        ("/ticketrouter.v1.RoutingConfigService/ApplyPolicy", Role.ADMIN),
        # Not listed anywhere yet: closed to platforms until someone decides.
        ("/ticketrouter.v1.RoutingService/PurgeEverything", Role.ADMIN),
        ("/ticketrouter.v1.NewService/Anything", Role.ADMIN),
        ("/grpc.health.v1.Health/Check", None),
        ("/grpc.health.v1.Health/Watch", None),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", None),
        ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", None),
    ],
)
def test_each_method_needs_the_role_of_the_table(method: str, role: Role | None) -> None:
    assert required_role(method) is role


def test_an_open_service_name_used_as_a_prefix_does_not_open_another_service() -> None:
    assert required_role("/grpc.health.v1.HealthX/Check") is Role.ADMIN
    assert required_role("/grpc.health.v1/Health") is Role.ADMIN


def test_every_platform_method_exists_in_the_contract() -> None:
    """A typo in the table would silently make a platform call admin-only."""
    services = {
        **routing_pb2.DESCRIPTOR.services_by_name,
        **agents_pb2.DESCRIPTOR.services_by_name,
        **customers_pb2.DESCRIPTOR.services_by_name,
    }
    contract = {
        f"{service.full_name}/{method.name}"
        for service in services.values()
        for method in service.methods
    }
    assert contract >= PLATFORM_METHODS


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        (_bearer("abc"), "abc"),
        ([("authorization", "bearer  abc ")], "abc"),
        ([("x-other", "1"), ("authorization", "Bearer abc")], "abc"),
        (None, None),
        ([], None),
        ([("authorization", "abc")], None),
        ([("authorization", "Basic abc")], None),
        ([("authorization", "Bearer ")], None),
        ([("authorization", "Bearer a b")], None),
        ([("authorization", b"Bearer abc")], None),
        # Two credentials on one call: which one counts? Neither.
        ([("authorization", "Bearer abc"), ("authorization", "Bearer def")], None),
    ],
)
def test_the_bearer_token_is_read_from_one_authorization_entry(
    metadata: list[tuple[str, str | bytes]] | None, token: str | None
) -> None:
    assert bearer_token(metadata) == token


def test_tokens_map_to_their_role_and_unknown_ones_to_none() -> None:
    assert TOKENS.role_of("desk-token-1") is Role.PLATFORM
    assert TOKENS.role_of("desk-token-2") is Role.PLATFORM
    assert TOKENS.role_of("ops-token") is Role.ADMIN
    assert TOKENS.role_of("ops-token ") is None
    assert TOKENS.role_of("desk-token") is None
    assert TOKENS.role_of("") is None
    assert TOKENS.role_of("\udcff") is None  # not even valid UTF-8: refused, not a crash


def test_a_table_without_tokens_is_off_and_accepts_nothing() -> None:
    empty = TokenTable(platform=["", ""], admin=[])
    assert not empty.enabled
    assert empty.role_of("") is None
    assert TOKENS.enabled


def test_one_token_in_both_roles_is_refused_as_a_configuration() -> None:
    with pytest.raises(ValueError, match="both"):
        TokenTable(platform=["same"], admin=["same"])


def test_the_tokens_never_show_in_a_repr() -> None:
    assert "desk-token" not in repr(TOKENS)
    assert "ops-token" not in repr(TOKENS)


def test_a_call_without_or_with_a_bad_token_is_unauthenticated() -> None:
    method = "/ticketrouter.v1.RoutingService/GetCase"
    for metadata in (None, _bearer("guess"), [("authorization", "ops-token")]):
        verdict = authorize(TOKENS, method, metadata)
        assert verdict.code is grpc.StatusCode.UNAUTHENTICATED
        assert not verdict.allowed


def test_a_platform_token_on_an_admin_method_is_denied_naming_method_and_role() -> None:
    method = "/ticketrouter.v1.CustomerService/MergeCustomers"
    verdict = authorize(TOKENS, method, _bearer("desk-token-1"))
    assert verdict.code is grpc.StatusCode.PERMISSION_DENIED
    assert verdict.role is Role.PLATFORM
    assert "ticketrouter.v1.CustomerService/MergeCustomers" in verdict.message
    assert "admin" in verdict.message
    assert "desk-token-1" not in verdict.message


def test_admin_can_do_everything_a_platform_can_and_more() -> None:
    for method in (
        "/ticketrouter.v1.RoutingService/GetCase",
        "/ticketrouter.v1.RoutingConfigService/ApplyPolicy",
    ):
        verdict = authorize(TOKENS, method, _bearer("ops-token"))
        assert verdict.allowed
        assert verdict.role is Role.ADMIN
    platform = authorize(
        TOKENS, "/ticketrouter.v1.AgentService/SetPresence", _bearer("desk-token-2")
    )
    assert platform.allowed
    assert platform.role is Role.PLATFORM


def test_open_methods_need_no_token() -> None:
    verdict = authorize(TOKENS, "/grpc.health.v1.Health/Check", None)
    assert verdict.allowed
    assert verdict.role is None
