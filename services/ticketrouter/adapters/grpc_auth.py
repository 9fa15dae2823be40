"""Bearer-token authentication for the gRPC server, with two roles.

`platform` tokens drive routing, agents and customer reads; `admin` tokens can do
everything a platform can, plus the routing configuration and the calls that change
who a customer is. A method that is not listed as a platform method needs `admin`,
so an RPC added later is closed to platforms until someone decides otherwise.
Health checking and reflection stay open: probes and tooling carry no token (their
streams are bounded, see OpenStreams).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import grpc

from ticketrouter.adapters.grpc_handlers import behavior_of, handler_like, within
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
                "AbandonContact",
                "EndContact",
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


@contextlib.asynccontextmanager
async def _as_role(role: Role | None) -> AsyncIterator[None]:
    token = _ROLE.set(role)
    try:
        yield
    finally:
        # A stream the client abandoned is closed by the garbage collector, possibly
        # in another context, where the token does not belong.
        with contextlib.suppress(ValueError):
            _ROLE.reset(token)


class OpenStreams:
    """How many streams of the open services (health Watch, server reflection) the
    callers without a valid token hold. A stream costs no thread on this server, but
    anyone can open one, so they are bounded: beyond the limit the next is refused
    with RESOURCE_EXHAUSTED, while health checks (unary) are always answered."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    @contextlib.asynccontextmanager
    async def held(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        if self.open >= self.limit:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.limit} health or reflection streams without a token are open "
                "already; use Health/Check, or close a stream",
            )
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls without the role their method needs, before the servicer runs,
    and bounds the streams that callers without a valid token keep open.

    With no tokens configured every call is let through (authentication is off) and
    only that bound applies."""

    def __init__(self, tokens: TokenTable, open_streams: OpenStreams) -> None:
        self._tokens = tokens
        self._open_streams = open_streams
        self._refusals = LimitedLog(log)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        metadata = handler_call_details.invocation_metadata
        handler = await continuation(handler_call_details)
        if required_role(method) is None:
            if handler is None or not handler.response_streaming or self._valid_token(metadata):
                return handler
            bound = self._open_streams.held
            return handler_like(handler, within(behavior_of(handler), lambda _r, c: bound(c)))
        if not self._tokens.enabled:
            return handler
        verdict = authorize(self._tokens, method, metadata)
        if not verdict.allowed:
            return _refusal(handler, method, verdict, self._refusals)
        if handler is None:
            return None
        role = verdict.role
        return handler_like(handler, within(behavior_of(handler), lambda _r, _c: _as_role(role)))

    def _valid_token(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> bool:
        token = bearer_token(metadata) if self._tokens.enabled else None
        return token is not None and self._tokens.role_of(token) is not None


def _refusal(
    handler: grpc.RpcMethodHandler | None, method: str, verdict: Verdict, refusals: LimitedLog
) -> Any:
    code = verdict.code
    assert code is not None

    async def refuse(_request: Any, context: grpc.aio.ServicerContext) -> Any:
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
        await context.abort(code, verdict.message)

    # The refusal never deserialises the request: a refused caller should cost
    # as little as possible. A coroutine answers any kind of method.
    return handler_like(handler, refuse, serializers=False)
