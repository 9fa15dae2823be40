"""Customer identifiers and their normalisation.

One customer writes from `Ana.Lopez@Example.com` and calls from
`+1 (415) 555-0100`: both must reduce to one canonical key per kind so that
lookups across channels find the same person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from ticketrouter.domain.errors import InvalidField, parse_choice


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    SOCIAL = "social"
    LOYALTY = "loyalty"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class Identity:
    kind: IdentityKind
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HANDLE = re.compile(r"^[\w.\-]{1,64}$")
_CODE = re.compile(r"^[A-Za-z0-9\-_.]{1,64}$")
_MAX_LENGTH = 256


def normalise_identity(
    kind: str, value: str, default_region: str = "US", field: str = "identities"
) -> Identity:
    """Return the canonical identity, or raise InvalidField naming `field`."""
    parsed_kind = parse_choice(IdentityKind, kind, f"{field}.kind", "kind")
    raw = value.strip()
    if not raw:
        raise InvalidField(f"{field}.value", "must not be empty")
    if len(raw) > _MAX_LENGTH:
        raise InvalidField(f"{field}.value", f"longer than {_MAX_LENGTH} characters")
    normaliser = _NORMALISERS[parsed_kind]
    return Identity(parsed_kind, normaliser(raw, default_region, f"{field}.value"))


def _email(raw: str, _region: str, field: str) -> str:
    # Domains are case-insensitive by standard and, in practice, so are mailboxes.
    email = raw.lower()
    if not _EMAIL.match(email):
        raise InvalidField(field, f"{raw!r} is not an email address")
    return email


def _phone(raw: str, region: str, field: str) -> str:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidField(field, f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidField(field, f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _handle(raw: str, _region: str, field: str) -> str:
    handle = raw.lstrip("@").lower()
    if not _HANDLE.match(handle):
        raise InvalidField(field, f"{raw!r} is not a chat handle")
    return handle


def _social(raw: str, region: str, field: str) -> str:
    platform, sep, handle = raw.partition(":")
    if not sep or not platform.strip():
        raise InvalidField(field, f"{raw!r} must look like 'platform:handle'")
    return f"{platform.strip().lower()}:{_handle(handle.strip(), region, field)}"


def _code(raw: str, _region: str, field: str) -> str:
    code = raw.replace(" ", "").upper()
    if not _CODE.match(code):
        raise InvalidField(field, f"{raw!r} is not a valid identifier")
    return code


_NORMALISERS = {
    IdentityKind.EMAIL: _email,
    IdentityKind.PHONE: _phone,
    IdentityKind.CHAT: _handle,
    IdentityKind.SOCIAL: _social,
    IdentityKind.LOYALTY: _code,
    IdentityKind.ACCOUNT: _code,
}
