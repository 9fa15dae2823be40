"""The production gRPC server over real ports: token roles, TLS and mutual TLS,
limits, deadlines and a graceful stop. Certificates are made fresh for each run."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from tests.e2e.conftest import e2e_settings, wait_until
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.grpc_auth import Role, TokenTable, current_role
from ticketrouter.adapters.grpc_health import HealthBoard
from ticketrouter.bootstrap import App, bootstrap
from ticketrouter.config import Settings, from_env
from ticketrouter.entrypoints.grpc_server import (
    MAX_MESSAGE_BYTES,
    ServerSecurity,
    create_server,
    stop_gracefully,
)
from ticketrouter.entrypoints.logs import JsonFormatter
from ticketrouter.entrypoints.runtime import Runtime
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

PLATFORM_TOKEN = "platform-0f3c9d7e2b5a4c18"
ADMIN_TOKEN = "admin-7a1e4b9c3d2f6e05"
TOKENS = TokenTable(platform=[PLATFORM_TOKEN], admin=[ADMIN_TOKEN])
CALL_TIMEOUT = 10.0
Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


PLATFORM = bearer(PLATFORM_TOKEN)
ADMIN = bearer(ADMIN_TOKEN)


@dataclass
class Running:
    server: grpc.Server
    port: int
    health: HealthBoard

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = bootstrap(
        Settings(database_url=f"sqlite:///{tmp_path}/ticketrouter.db"), CollectorRegistry()
    )
    yield application
    application.close()


@contextmanager
def serving(app: App, security: ServerSecurity | None = None, **options: Any) -> Iterator[Running]:
    server, port, health_servicer = create_server(app, "127.0.0.1:0", security=security, **options)
    server.start()
    try:
        yield Running(server, port, health_servicer)
    finally:
        server.stop(None).wait()


@pytest.fixture
def secured(app: App) -> Iterator[grpc.Channel]:
    """A server with token roles and no TLS, and a plaintext channel to it."""
    with serving(app, ServerSecurity(TOKENS)) as running:
        channel = grpc.insecure_channel(running.target)
        yield channel
        channel.close()


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as err:
        code: grpc.StatusCode = err.code()
        return code
    return grpc.StatusCode.OK


def rpc_error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def routing(channel: grpc.Channel) -> routing_pb2_grpc.RoutingServiceStub:
    return routing_pb2_grpc.RoutingServiceStub(channel)  # type: ignore[no-untyped-call]


def config(channel: grpc.Channel) -> config_pb2_grpc.RoutingConfigServiceStub:
    return config_pb2_grpc.RoutingConfigServiceStub(channel)  # type: ignore[no-untyped-call]


def health_of(channel: grpc.Channel) -> health_pb2_grpc.HealthStub:
    return health_pb2_grpc.HealthStub(channel)


def get_unknown_case(channel: grpc.Channel, metadata: Metadata = ()) -> object:
    request = routing_pb2.GetCaseRequest(case_id="no-such-case")
    return routing(channel).GetCase(request, metadata=metadata, timeout=CALL_TIMEOUT)


def validate_policy(channel: grpc.Channel, metadata: Metadata) -> config_pb2.ValidatePolicyResponse:
    request = config_pb2.ValidatePolicyRequest(source="rules:\n  - {name: d}\n")
    response: config_pb2.ValidatePolicyResponse = config(channel).ValidatePolicy(
        request, metadata=metadata, timeout=CALL_TIMEOUT
    )
    return response


# --- tokens and roles -------------------------------------------------------------


def test_a_call_without_a_token_is_unauthenticated(secured: grpc.Channel) -> None:
    err = rpc_error(lambda: get_unknown_case(secured))
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "Bearer" in err.details()


@pytest.mark.parametrize(
    "metadata",
    [
        bearer("not-a-configured-token"),
        bearer(PLATFORM_TOKEN + "x"),
        (("authorization", PLATFORM_TOKEN),),  # no scheme
        (("authorization", f"Basic {PLATFORM_TOKEN}"),),
    ],
    ids=["unknown", "suffixed", "no-scheme", "basic"],
)
def test_a_wrong_or_malformed_token_is_unauthenticated(
    secured: grpc.Channel, metadata: Metadata
) -> None:
    err = rpc_error(lambda: get_unknown_case(secured, metadata))
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED


def test_a_platform_token_gets_through_to_routing(secured: grpc.Channel) -> None:
    err = rpc_error(lambda: get_unknown_case(secured, PLATFORM))
    assert err.code() is grpc.StatusCode.NOT_FOUND


def test_a_platform_token_may_not_change_config_or_identities(secured: grpc.Channel) -> None:
    err = rpc_error(lambda: validate_policy(secured, PLATFORM))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "ticketrouter.v1.RoutingConfigService/ValidatePolicy" in err.details()
    assert "admin" in err.details()

    customers = customers_pb2_grpc.CustomerServiceStub(secured)  # type: ignore[no-untyped-call]
    merge = customers_pb2.MergeCustomersRequest()
    err = rpc_error(lambda: customers.MergeCustomers(merge, metadata=PLATFORM, timeout=5))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "ticketrouter.v1.CustomerService/MergeCustomers" in err.details()


def test_a_method_the_server_does_not_know_yet_is_admin_only(secured: grpc.Channel) -> None:
    """A new identity-changing RPC is closed to platforms before anyone lists it."""
    unlink = secured.unary_unary("/ticketrouter.v1.CustomerService/UnlinkIdentity")
    denied = code_of(lambda: unlink(b"", metadata=PLATFORM, timeout=CALL_TIMEOUT))
    assert denied is grpc.StatusCode.PERMISSION_DENIED
    # Whatever the method answers once it exists, an admin gets past authentication.
    admitted = code_of(lambda: unlink(b"", metadata=ADMIN, timeout=CALL_TIMEOUT))
    assert admitted not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)


def test_an_admin_token_reaches_config_and_everything_a_platform_can(
    secured: grpc.Channel,
) -> None:
    assert validate_policy(secured, ADMIN).valid
    assert code_of(lambda: get_unknown_case(secured, ADMIN)) is grpc.StatusCode.NOT_FOUND


def test_a_server_stream_is_guarded_too(secured: grpc.Channel) -> None:
    request = routing_pb2.WatchAssignmentsRequest(agent_id="ana")

    def watch(metadata: Metadata) -> object:
        return list(routing(secured).WatchAssignments(request, metadata=metadata, timeout=1.0))

    assert code_of(lambda: watch(())) is grpc.StatusCode.UNAUTHENTICATED
    # Through authentication, the stream stays open until the client's deadline.
    assert code_of(lambda: watch(PLATFORM)) is grpc.StatusCode.DEADLINE_EXCEEDED


class RoleProbe(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Records the role a servicer would see, for each call it wraps."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Role | None]] = []

    async def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or (handler.unary_unary is None and handler.unary_stream is None):
            return handler
        method = handler_call_details.method.rsplit("/", 1)[1]
        if handler.unary_stream is not None:
            stream = handler.unary_stream

            async def probed_stream(request: Any, context: Any) -> Any:
                self.seen.append((method, current_role()))
                async for response in stream(request, context):
                    yield response

            return grpc.unary_stream_rpc_method_handler(
                probed_stream, handler.request_deserializer, handler.response_serializer
            )
        call = handler.unary_unary

        async def probed(request: Any, context: Any) -> Any:
            self.seen.append((method, current_role()))
            return await call(request, context)

        return grpc.unary_unary_rpc_method_handler(
            probed, handler.request_deserializer, handler.response_serializer
        )


def test_servicers_can_see_the_role_of_the_caller(app: App) -> None:
    probe = RoleProbe()
    with (
        serving(app, ServerSecurity(TOKENS), interceptors=[probe]) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        code_of(lambda: get_unknown_case(channel, PLATFORM))
        validate_policy(channel, ADMIN)
        watch = routing(channel).WatchAssignments(
            routing_pb2.WatchAssignmentsRequest(), metadata=ADMIN, timeout=0.5
        )
        code_of(lambda: list(watch))
    assert probe.seen == [
        ("GetCase", Role.PLATFORM),
        ("ValidatePolicy", Role.ADMIN),
        ("WatchAssignments", Role.ADMIN),
    ]
    assert current_role() is None  # nothing leaks into the thread that asked


def test_health_and_reflection_need_no_token(secured: grpc.Channel) -> None:
    answer = health_of(secured).Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(secured)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [response] = list(stub.ServerReflectionInfo(iter([request]), timeout=CALL_TIMEOUT))
    assert "ticketrouter.v1.RoutingService" in {
        s.name for s in response.list_services_response.service
    }


def test_tokens_never_reach_the_logs(app: App, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        serving(app, ServerSecurity(TOKENS)) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        code_of(lambda: get_unknown_case(channel, PLATFORM))
        code_of(lambda: get_unknown_case(channel, bearer("wrong-" + ADMIN_TOKEN)))
        code_of(lambda: validate_policy(channel, PLATFORM))
        validate_policy(channel, ADMIN)
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert PLATFORM_TOKEN not in logged
    assert ADMIN_TOKEN not in logged
    refusals = [
        json.loads(formatter.format(r)) for r in caplog.records if "refused" in r.getMessage()
    ]
    assert {(r["status"], r["role"], r["method"]) for r in refusals} == {
        ("UNAUTHENTICATED", "-", "/ticketrouter.v1.RoutingService/GetCase"),
        ("PERMISSION_DENIED", "platform", "/ticketrouter.v1.RoutingConfigService/ValidatePolicy"),
    }


def test_without_tokens_authentication_is_off_and_says_so_once(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(app) as running, grpc.insecure_channel(running.target) as channel:
        assert validate_policy(channel, ()).valid
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "authentication is off" in warnings[0].getMessage()


def test_the_service_takes_its_tokens_from_the_settings(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = e2e_settings(broker, f"sqlite:///{tmp_path}/ticketrouter.db").with_overrides(
        platform_tokens=(PLATFORM_TOKEN,), admin_tokens=(ADMIN_TOKEN,)
    )
    with (
        Runtime(settings, with_worker=False, with_metrics=False) as runtime,
        grpc.insecure_channel(f"127.0.0.1:{runtime.grpc_port}") as channel,
    ):
        assert code_of(lambda: get_unknown_case(channel)) is grpc.StatusCode.UNAUTHENTICATED
        assert code_of(lambda: get_unknown_case(channel, PLATFORM)) is grpc.StatusCode.NOT_FOUND
        assert code_of(lambda: validate_policy(channel, PLATFORM)) is (
            grpc.StatusCode.PERMISSION_DENIED
        )


# --- TLS and mutual TLS ------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and client
    certificates: one signed by the CA, one by a stranger."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    usage: str,
) -> x509.Certificate:
    now = datetime.now(UTC)
    issuer_name, issuer_key = issuer or (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=usage == "ca", path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if usage == "ca":
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    elif usage == "server":
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca_key, stranger_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _issue("ticketrouter test CA", ca_key, None, "ca")
    stranger = _issue("somebody else's CA", stranger_key, None, "ca")
    _write(directory, "ca", ca, ca_key)
    for name, usage, issuer in (
        ("server", "server", (ca.subject, ca_key)),
        ("client", "client", (ca.subject, ca_key)),
        ("impostor", "client", (stranger.subject, stranger_key)),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(directory, name, _issue(f"{name}.test", key, issuer, usage), key)
    return Pki(directory)


def tls_security(pki: Pki, mutual: bool) -> ServerSecurity:
    return ServerSecurity(
        TOKENS,
        tls_cert=pki.path("server.pem"),
        tls_key=pki.path("server.key"),
        tls_client_ca=pki.path("ca.pem") if mutual else None,
    )


def tls_channel(target: str, pki: Pki, client: str | None = None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.read("ca.pem"),
        private_key=pki.read(f"{client}.key") if client else None,
        certificate_chain=pki.read(f"{client}.pem") if client else None,
    )
    return grpc.secure_channel(target, credentials)


def test_a_tls_server_refuses_plaintext_and_serves_tls(app: App, pki: Pki) -> None:
    with serving(app, tls_security(pki, mutual=False)) as running:
        with grpc.insecure_channel(running.target) as plaintext:
            assert code_of(lambda: get_unknown_case(plaintext, PLATFORM)) is (
                grpc.StatusCode.UNAVAILABLE
            )
        with tls_channel(running.target, pki) as secure:
            assert code_of(lambda: get_unknown_case(secure, PLATFORM)) is (
                grpc.StatusCode.NOT_FOUND
            )
            # Tokens still apply inside TLS.
            assert code_of(lambda: get_unknown_case(secure)) is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("client", [None, "impostor"], ids=["no-certificate", "other-ca"])
def test_mutual_tls_refuses_a_client_without_a_certificate_from_the_ca(
    app: App, pki: Pki, client: str | None
) -> None:
    with (
        serving(app, tls_security(pki, mutual=True)) as running,
        tls_channel(running.target, pki, client) as refused,
    ):
        err = rpc_error(lambda: get_unknown_case(refused, PLATFORM))
        assert err.code() is grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_serves_a_client_certified_by_the_ca(app: App, pki: Pki) -> None:
    with (
        serving(app, tls_security(pki, mutual=True)) as running,
        tls_channel(running.target, pki, "client") as accepted,
    ):
        err = rpc_error(lambda: get_unknown_case(accepted, PLATFORM))
        assert err.code() is grpc.StatusCode.NOT_FOUND


def test_tls_settings_come_from_the_environment(pki: Pki) -> None:
    settings = from_env(
        {
            "TICKETROUTER_PLATFORM_TOKENS": f" {PLATFORM_TOKEN} , other ",
            "TICKETROUTER_ADMIN_TOKENS": ADMIN_TOKEN,
            "TICKETROUTER_GRPC_TLS_CERT": str(pki.path("server.pem")),
            "TICKETROUTER_GRPC_TLS_KEY": str(pki.path("server.key")),
            "TICKETROUTER_GRPC_TLS_CLIENT_CA": str(pki.path("ca.pem")),
        }
    )
    assert settings.platform_tokens == (PLATFORM_TOKEN, "other")
    assert settings.admin_tokens == (ADMIN_TOKEN,)
    assert PLATFORM_TOKEN not in repr(settings)
    security = ServerSecurity.from_settings(settings)
    assert security.tokens.enabled
    assert security.tls_client_ca == pki.path("ca.pem")
    with pytest.raises(SystemExit, match="go together"):
        from_env({"TICKETROUTER_GRPC_TLS_CERT": str(pki.path("server.pem"))})
    assert not ServerSecurity.from_settings(from_env({})).tokens.enabled


# --- limits, deadlines, shutdown ---------------------------------------------------


def test_a_message_over_the_size_limit_is_refused(secured: grpc.Channel) -> None:
    request = routing_pb2.GetCaseRequest(case_id="x" * (MAX_MESSAGE_BYTES + 1))
    err = rpc_error(
        lambda: routing(secured).GetCase(request, metadata=PLATFORM, timeout=CALL_TIMEOUT)
    )
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_an_expired_deadline_is_deadline_exceeded(secured: grpc.Channel) -> None:
    request = routing_pb2.GetCaseRequest(case_id="any")
    # A deadline already past: grpcio treats timeout=0 as "now", which a fast
    # server sometimes still meets.
    err = rpc_error(lambda: routing(secured).GetCase(request, metadata=PLATFORM, timeout=-1))
    assert err.code() is grpc.StatusCode.DEADLINE_EXCEEDED


def open_watch(channel: grpc.Channel) -> Any:
    request = routing_pb2.WatchAssignmentsRequest()
    return routing(channel).WatchAssignments(request, metadata=PLATFORM, timeout=3.0)


def test_a_stream_past_its_deadline_frees_its_slot_on_the_server(app: App) -> None:
    """With room for one call, an open watch makes other calls RESOURCE_EXHAUSTED;
    once the watch's deadline passes the server stops working on it and the slot
    is free again (a handler that kept running would hold it forever)."""
    with (
        serving(app, ServerSecurity(TOKENS), max_concurrent_rpcs=1) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        grpc.channel_ready_future(channel).result(timeout=CALL_TIMEOUT)
        watches = [open_watch(channel)]

        def watch_holds_the_slot() -> bool:
            if watches[-1].done():
                # A probe reached the server first and the watch was refused: retry.
                watches.append(open_watch(channel))
                return False
            return (
                code_of(lambda: get_unknown_case(channel, PLATFORM))
                is grpc.StatusCode.RESOURCE_EXHAUSTED
            )

        wait_until(watch_holds_the_slot, 5, "the open watch to take the only slot")
        watch = watches[-1]
        assert code_of(lambda: list(watch)) is grpc.StatusCode.DEADLINE_EXCEEDED
        wait_until(
            lambda: (
                code_of(lambda: get_unknown_case(channel, PLATFORM)) is grpc.StatusCode.NOT_FOUND
            ),
            5,
            "the server to drop the expired watch",
        )


class Gate(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Holds calls to one method until released, so that the server can be stopped
    with a call in flight."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.entered = threading.Event()
        self.release = threading.Event()

    async def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method != self.method:
            return handler
        behavior = handler.unary_unary

        async def held(request: Any, context: Any) -> Any:
            self.entered.set()
            await asyncio.to_thread(self.release.wait, 30)
            return await behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(
            held, handler.request_deserializer, handler.response_serializer
        )


def test_graceful_stop_drains_health_first_and_finishes_the_call_in_flight(app: App) -> None:
    gate = Gate("/ticketrouter.v1.AgentService/UpsertAgent")
    with (
        serving(app, interceptors=[gate]) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        watch = health_of(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        agents = agents_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
        agent = agents_pb2.Agent(
            agent_id="ana",
            name="Ana",
            team="billing",
            skills={"billing": 3},
            languages=["en"],
            presence="available",
            capacity=[agents_pb2.ChannelCapacity(channel="email", capacity=2)],
        )
        in_flight = agents.UpsertAgent.future(
            agents_pb2.UpsertAgentRequest(agent=agent), timeout=30
        )
        assert gate.entered.wait(10), "the call never reached the server"

        stopper = threading.Thread(
            target=stop_gracefully, args=(running.server, running.health, 20.0)
        )
        stopper.start()
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()
        wait_until(
            lambda: (
                code_of(
                    lambda: health_of(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
                )
                is grpc.StatusCode.UNAVAILABLE
            ),
            10,
            "the stopping server to refuse new calls",
        )
        assert stopper.is_alive(), "stopped before the call in flight finished"

        gate.release.set()
        assert in_flight.result().agent_id == "ana"
        stopper.join(timeout=15)
        assert not stopper.is_alive()
