"""Opaque page tokens for keyset paging: (time, id) of the last item served."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from ticketrouter.domain.errors import InvalidField


def encode_cursor(cursor: tuple[datetime, int]) -> str:
    at, last_id = cursor
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{last_id}".encode()).decode()


def decode_cursor(token: str) -> tuple[datetime, int]:
    try:
        at, _, last_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        return datetime.fromisoformat(at), int(last_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidField("page_token", "not a token this service issued") from None
