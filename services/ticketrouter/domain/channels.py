"""Closed sets shared across the domain: channels and agent presence."""

from __future__ import annotations

from enum import StrEnum

from ticketrouter.domain.errors import parse_choice


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
    return parse_choice(Channel, value, field, "channel")


def parse_presence(value: str, field: str = "presence") -> Presence:
    return parse_choice(Presence, value, field, "presence")
