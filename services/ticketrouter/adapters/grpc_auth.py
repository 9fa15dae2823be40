"""Bearer-token authentication for the gRPC server, with two roles.

`platform` tokens drive routing, agents and customer reads; `admin` tokens can do
everything a platform can, plus the routing configuration and the calls that change
who a customer is. A method that is not listed as a platform method needs `admin`,
so an RPC added later is closed to platforms until someone decides otherwise.
Health checking and reflection stay open: probes and tooling carry no token.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import grpc

from ticketrouter.adapters.log_limits import LimitedLog

log = logging.getLogger(__name__)


class Role(StrEnum):
    PLATFORM = "platform"
    ADMIN = "admin"


# What each role may do: admin is a superset of platform.
_GRANTS: dict[Role, frozenset[Role]] = {
    Role.PLATFORM: frozenset({Role.PLATFORM}),
    Role.ADMIN: frozenset({Role.PLATFORM, Role.ADMIN}),
}

OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
PLATFORM_METHODS = frozenset(
    {
        *(
            f"ticketrouter.v1.RoutingService/{name}"
            for name in (
                "SubmitContact",
                "GetCase",
                "ListQueue",
                "ListCases",
                "AcceptOffer",
                "DeclineOffer",
                "Transfer",
                "Resolve",
                "AddNote",
                "GetResolutionReport",
                "WatchAssignments",
                "ExplainDecision",
            )
        ),
        *(
            f"ticketrouter.v1.AgentService/{name}"
            for name in ("UpsertAgent", "SetPresence", "GetAgent", "ListAgents")
        ),
        *(
            f"ticketrouter.v1.CustomerService/{name}"
            for name in ("GetCustomer", "LookupCustomer", "GetTimeline")
        ),
    }
)


def required_role(method: str) -> Role | None:
    """The role a method needs, or None when it is open to anyone.

    `method` is the full name as gRPC passes it, `/package.Service/Method`.
    """
    name = method.removeprefix("/")
    if name.partition("/")[0] in OPEN_SERVICES:
        return None
    return Role.PLATFORM if name in PLATFORM_METHODS else Role.ADMIN


def _digest(token: str) -> bytes:
    # Hashing first gives compare_digest equal-length inputs, so the comparison
    # time says nothing about the length of a configured token either.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenTable:
    """The configured tokens of each role. Empty: authentication is off."""

    def __init__(self, platform: Iterable[str] = (), admin: Iterable[str] = ()) -> None:
        platform_set = {t for t in platform if t}
        admin_set = {t for t in admin if t}
        if platform_set & admin_set:
            # Which role would it get? Refuse to guess in a security setting.
            raise ValueError("a token is configured both as a platform and as an admin token")
        self._digests: tuple[tuple[Role, bytes], ...] = (
            *((Role.ADMIN, _digest(t)) for t in sorted(admin_set)),
            *((Role.PLATFORM, _digest(t)) for t in sorted(platform_set)),
        )

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def role_of(self, token: str) -> Role | None:
        """The role a presented token grants, compared in constant time against
        every configured token (no early exit that would time which one matched)."""
        presented = _digest(token)
        found: Role | None = None
        for role, known in self._digests:
            if hmac.compare_digest(presented, known) and found is None:
                found = role
        return found

    def __repr__(self) -> str:
        return f"TokenTable({len(self._digests)} tokens)"


def bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    """The token of the one `authorization: Bearer <token>` entry, else None."""
    values = [value for key, value in metadata or () if key.lower() == "authorization"]
    if len(values) != 1 or not isinstance(values[0], str):
        return None  # absent, or ambiguous when repeated
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


@dataclass(frozen=True, slots=True)
class Verdict:
    """Allowed (code None, with the caller's role) or refused with a status."""

    role: Role | None
    code: grpc.StatusCode | None = None
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.code is None


def authorize(
    tokens: TokenTable, method: str, metadata: Sequence[tuple[str, str | bytes]] | None
) -> Verdict:
    needed = required_role(method)
    if needed is None:
        return Verdict(role=None)
    token = bearer_token(metadata)
    if token is None:
        return Verdict(
            None,
            grpc.StatusCode.UNAUTHENTICATED,
            "missing or malformed credentials: send 'authorization: Bearer <token>'",
        )
    role = tokens.role_of(token)
    if role is None:
        return Verdict(None, grpc.StatusCode.UNAUTHENTICATED, "unknown token")
    if needed not in _GRANTS[role]:
        return Verdict(
            role,
            grpc.StatusCode.PERMISSION_DENIED,
            f"{method.removeprefix('/')} requires the {needed} role",
        )
    return Verdict(role)


_ROLE: contextvars.ContextVar[Role | None] = contextvars.ContextVar(
    "ticketrouter_grpc_role", default=None
)


def current_role() -> Role | None:
    """The authenticated role of the call this thread is serving (None when
    authentication is off or the method is open)."""
    return _ROLE.get()


Behavior = Callable[[Any, grpc.ServicerContext], Any]


def _as_role(behavior: Behavior, role: Role | None, streaming: bool) -> Behavior:
    if not streaming:

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            token = _ROLE.set(role)
            try:
                return behavior(request, context)
            finally:
                _ROLE.reset(token)

        return unary

    def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        token = _ROLE.set(role)
        try:
            yield from behavior(request, context)
        finally:
            # A stream the client abandoned is closed by the garbage collector,
            # possibly on another thread, where the token does not belong.
            with contextlib.suppress(ValueError):
                _ROLE.reset(token)

    return stream


def _handler_like(
    handler: grpc.RpcMethodHandler | None, behavior: Behavior, serializers: bool = True
) -> Any:
    """A method handler of the same kind (unary/streaming) as `handler`."""
    request_streaming = bool(handler and handler.request_streaming)
    response_streaming = bool(handler and handler.response_streaming)
    factory = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(request_streaming, response_streaming)]
    if handler is None or not serializers:
        return factory(behavior)
    return factory(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class TokenAuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls without the role their method needs, before the servicer runs."""

    def __init__(self, tokens: TokenTable) -> None:
        self._tokens = tokens
        self._refusals = LimitedLog(log)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        verdict = authorize(self._tokens, method, handler_call_details.invocation_metadata)
        handler = continuation(handler_call_details)
        if not verdict.allowed:
            return _refusal(handler, method, verdict, self._refusals)
        if handler is None or verdict.role is None:
            return handler
        behavior = (
            handler.unary_unary
            or handler.unary_stream
            or handler.stream_unary
            or handler.stream_stream
        )
        return _handler_like(
            handler, _as_role(behavior, verdict.role, bool(handler.response_streaming))
        )


def _refusal(
    handler: grpc.RpcMethodHandler | None, method: str, verdict: Verdict, refusals: LimitedLog
) -> Any:
    code = verdict.code
    assert code is not None

    def refuse(_request: Any, context: grpc.ServicerContext) -> Any:
        # The role and method only: the token itself never reaches a log line.
        # Rate-limited per status: a client retrying without a token, or probing
        # method names, must not flood the log (the method path is its choice).
        level = logging.WARNING if code is grpc.StatusCode.PERMISSION_DENIED else logging.INFO
        refusals.log(
            level,
            code.name,
            "gRPC call refused",
            {
                "method": method[:200],
                "status": code.name,
                "role": verdict.role.value if verdict.role else "-",
                "peer": context.peer(),
            },
        )
        context.abort(code, verdict.message)

    # The refusal never deserialises the request: a refused caller should cost
    # as little as possible.
    return _handler_like(handler, refuse, serializers=False)
