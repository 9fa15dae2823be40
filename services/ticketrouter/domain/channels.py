"""Closed sets shared across the domain: channels and agent presence."""

from __future__ import annotations

from enum import StrEnum

from ticketrouter.domain.errors import InvalidField


class Channel(StrEnum):
    EMAIL = "email"
    CHAT = "chat"
    VOICE = "voice"
    SMS = "sms"
    SOCIAL = "social"
    WEB = "web"
    STORE = "store"


class Presence(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


def parse_channel(value: str, field: str = "channel") -> Channel:
    try:
        return Channel(value.strip().lower())
    except ValueError:
        allowed = ", ".join(c.value for c in Channel)
        raise InvalidField(field, f"unknown channel {value!r} (one of {allowed})") from None


def parse_presence(value: str, field: str = "presence") -> Presence:
    try:
        return Presence(value.strip().lower())
    except ValueError:
        allowed = ", ".join(p.value for p in Presence)
        raise InvalidField(field, f"unknown presence {value!r} (one of {allowed})") from None
