"""Pages of a list that always fit one gRPC response.

A page is cut at `page_size` items or at a byte budget, whichever comes first, so
no data stored by clients (large policies, agents with many skills) can ever make
a list answer RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from google.protobuf.message import Message

from ticketrouter.domain.errors import InvalidField

# Responses may be up to 4 MiB; keep a margin for the envelope and the token.
RESPONSE_BUDGET_BYTES = 3 * 1024 * 1024
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

T = TypeVar("T")
M = TypeVar("M", bound=Message)


def page_size(requested: int, field: str = "page_size") -> int:
    """0 means the default; anything else must be 1..MAX_PAGE_SIZE."""
    if not 0 <= requested <= MAX_PAGE_SIZE:
        raise InvalidField(field, f"must be 0..{MAX_PAGE_SIZE}")
    return requested or DEFAULT_PAGE_SIZE


def fill_page(
    items: Sequence[T],
    to_proto: Callable[[T], M],
    size: int,
    budget: int = RESPONSE_BUDGET_BYTES,
) -> tuple[list[M], bool]:
    """Up to `size` messages within `budget` bytes, and whether more items follow
    (then the last one served is the key of the next token). The first item is
    always served: one item is bounded by what a request may store."""
    page: list[M] = []
    used = 0
    for item in items:
        if len(page) == size:
            break
        message = to_proto(item)
        # Each repeated element costs its bytes plus a tag and a length prefix.
        cost = message.ByteSize() + 6
        if page and used + cost > budget:
            break
        page.append(message)
        used += cost
    return page, len(page) < len(items)
