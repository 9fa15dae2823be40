"""Opaque page tokens for keyset paging: the sort key of the last item served.

A token is only ever produced here, but a client may send anything: whatever does
not decode to a key this service could have issued is INVALID_ARGUMENT naming
`page_token`, never an error deeper down (an id beyond 64 bits, for example, which
no database column of ours can compare against).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from ticketrouter.domain.errors import InvalidField

MAX_ROW_ID = 2**63 - 1
MAX_TOKEN_LENGTH = 512
_NOT_OURS = "not a token this service issued"


def encode_cursor(cursor: tuple[datetime, int]) -> str:
    at, last_id = cursor
    return _encode(f"{at.isoformat()}|{last_id}")


def decode_cursor(token: str) -> tuple[datetime, int]:
    """(time, row id) of a timeline token."""
    at, _, last_id = _decode(token).partition("|")
    try:
        when, row = datetime.fromisoformat(at), int(last_id)
    except ValueError:
        raise InvalidField("page_token", _NOT_OURS) from None
    if not 0 <= row <= MAX_ROW_ID or when.tzinfo is None:
        raise InvalidField("page_token", _NOT_OURS)
    return when, row


def encode_key(kind: str, key: str) -> str:
    """A token continuing after `key` in a list of `kind` ordered by key."""
    return _encode(f"{kind}|{key}")


def decode_key(token: str, kind: str) -> str:
    found, separator, key = _decode(token).partition("|")
    if found != kind or not separator or not key:
        raise InvalidField("page_token", _NOT_OURS)
    return key


def decode_number_key(token: str, kind: str) -> int:
    """The key of a token for a list ordered by a row number (e.g. a version)."""
    key = decode_key(token, kind)
    if not key.isdigit() or int(key) > MAX_ROW_ID:
        raise InvalidField("page_token", _NOT_OURS)
    return int(key)


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode(token: str) -> str:
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidField("page_token", _NOT_OURS)
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidField("page_token", _NOT_OURS) from None
