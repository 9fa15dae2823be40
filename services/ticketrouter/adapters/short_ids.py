"""Short ids, as people copy them from a screen: the first 8 or more characters of a
case or customer id stand for the whole id when they are unambiguous."""

from __future__ import annotations

import re

from ticketrouter.domain.errors import InvalidField
from ticketrouter.service_layer.ports import Repository

SHORT_ID_CHARS = 8
# Ids are 32 lower-case hex characters; anything else is taken as given.
_PREFIX = re.compile(rf"[0-9a-f]{{{SHORT_ID_CHARS},31}}")


def short_id(full: str) -> str:
    return full[:SHORT_ID_CHARS]


def looks_short(given: str) -> bool:
    """`given` may be the first characters of an id (hex, shorter than an id)."""
    return _PREFIX.fullmatch(given) is not None


def full_id(repo: Repository, kind: str, given: str, field: str) -> str:
    """The id `given` starts, when exactly one does; `given` itself otherwise (so an
    unknown id is NOT_FOUND as before). Several: INVALID_ARGUMENT naming `field`."""
    if not looks_short(given):
        return given
    return the_one_begun(given, repo.ids_starting_with(kind, given, 2), kind, field)


def the_one_begun(given: str, matches: list[str], kind: str, field: str) -> str:
    """Of the (up to two) ids `given` begins, the only one; `given` when none does."""
    if len(matches) > 1:
        raise InvalidField(field, f"{given!r} begins more than one {kind} id; give more of it")
    return matches[0] if matches else given
