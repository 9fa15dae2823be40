"""Map domain failures to gRPC status codes; never a traceback to a client."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import grpc
from sqlalchemy.exc import OperationalError

from ticketrouter.adapters.codec import InvalidEvent
from ticketrouter.domain.errors import ConflictingState, InvalidField, NotFound
from ticketrouter.domain.policy_document import InvalidPolicy

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def invalid(context: grpc.ServicerContext, field: str, reason: str) -> NoReturn:
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {reason}")
    raise AssertionError("abort returns only by raising")


def required(value: str, field: str, max_length: int = 64) -> str:
    """An id the request must carry; InvalidField (INVALID_ARGUMENT) names the field."""
    if not value:
        raise InvalidField(field, "is required")
    if len(value) > max_length:
        raise InvalidField(field, f"longer than {max_length} characters")
    return value


def grpc_errors(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except InvalidField as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        except InvalidEvent as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"event.{err.detail}")
        except InvalidPolicy as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        except NotFound as err:
            context.abort(grpc.StatusCode.NOT_FOUND, str(err))
        except ConflictingState as err:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
        except OperationalError:
            log.exception("database unavailable")
            context.abort(grpc.StatusCode.UNAVAILABLE, "database unavailable, retry later")

    return wrapper  # type: ignore[return-value]
