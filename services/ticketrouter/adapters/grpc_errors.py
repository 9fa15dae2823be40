"""Map domain failures to gRPC status codes; never UNKNOWN or a traceback to a client.

Servicer methods raise domain errors (InvalidField, NotFound, ConflictingState...)
and `grpc_errors` turns them into status codes (an `Abort` the server delivers).
Every request is first checked for values no database can store (a NUL, a lone
surrogate, a NaN), so each RPC refuses them alike with the field's path. Anything
else a handler raises is a bug of ours: the client gets INTERNAL with a reference
to the log line, never UNKNOWN.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from ticketrouter.adapters.codec import InvalidEvent
from ticketrouter.adapters.database import is_transient
from ticketrouter.adapters.proto_values import check_storable
from ticketrouter.domain.errors import ConflictingState, InvalidField, NotFound
from ticketrouter.domain.policy_document import InvalidPolicy

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

# Status details travel in an HTTP/2 trailer, and clients refuse trailers beyond a
# few KiB (grpc-python: "received metadata size exceeds hard limit"). No message of
# ours needs more; anything longer is an echoed value, cut here.
MAX_DETAILS = 1000


class Abort(Exception):
    """A status that is neither a domain error nor a bug (e.g. UNAVAILABLE)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def invalid(field: str, reason: str) -> NoReturn:
    """INVALID_ARGUMENT naming the field (raised, so `grpc_errors` maps it)."""
    raise InvalidField(field, reason)


def required(value: str, field: str, max_length: int = 64) -> str:
    """An id the request must carry; InvalidField (INVALID_ARGUMENT) names the field."""
    if not value.strip():
        raise InvalidField(field, "is required")
    if len(value) > max_length:
        raise InvalidField(field, f"longer than {max_length} characters")
    return value


def timestamp(value: Timestamp, field: str) -> datetime:
    """A request's Timestamp as an aware datetime, or InvalidField when it lies
    outside the range a timestamp may take (years 1..9999)."""
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidField(field, "outside the range of a timestamp (years 1..9999)") from None


def cut(details: str, limit: int = MAX_DETAILS) -> str:
    return details if len(details) <= limit else details[: limit - 1] + "…"


def _status(error: Exception) -> tuple[grpc.StatusCode, str] | None:
    """The status a known failure maps to, or None for a bug."""
    if isinstance(error, InvalidField | InvalidPolicy):
        return grpc.StatusCode.INVALID_ARGUMENT, str(error)
    if isinstance(error, InvalidEvent):
        return grpc.StatusCode.INVALID_ARGUMENT, f"event.{error.detail}"
    if isinstance(error, NotFound):
        return grpc.StatusCode.NOT_FOUND, str(error)
    if isinstance(error, ConflictingState):
        return grpc.StatusCode.FAILED_PRECONDITION, str(error)
    if isinstance(error, Abort):
        return error.code, error.details
    if is_transient(error):
        log.warning("database unavailable", extra={"error": str(error).splitlines()[0]})
        return grpc.StatusCode.UNAVAILABLE, "database unavailable, retry later"
    return None


def as_abort(error: Exception, method: str) -> Abort:
    """The status a failure answers with; a bug is logged with a reference the
    client gets instead of a traceback."""
    status = _status(error)
    if status is None:
        reference = uuid.uuid4().hex[:12]
        log.exception("gRPC handler failed", extra={"method": method, "reference": reference})
        status = grpc.StatusCode.INTERNAL, f"internal error (reference {reference})"
    code, details = status
    return Abort(code, cut(details))


def _check_request(request: Any) -> None:
    if isinstance(request, Message):
        check_storable(request)


def grpc_errors(method: F) -> F:
    """For a synchronous method (run on the server's database threads): every
    failure leaves it as an Abort, which the server delivers as the call's status."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            _check_request(request)
            return method(self, request, context)
        except Exception as err:
            raise as_abort(err, method.__name__) from None

    return wrapper  # type: ignore[return-value]


def grpc_stream_errors(method: F) -> F:
    """`grpc_errors` for a method that answers with a stream (an async generator on
    the event loop)."""

    @functools.wraps(method)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        try:
            _check_request(request)
            async for response in method(self, request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as err:
            abort = as_abort(err, method.__name__)
            await context.abort(abort.code, abort.details)

    return wrapper  # type: ignore[return-value]
