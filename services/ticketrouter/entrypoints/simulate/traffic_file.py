"""A scenario's recorded traffic: JSON lines of `contact.received` events.

Each line is an event in the Kafka contract's JSON (DESIGN.md §4), decoded by the
production decoder, so a file the worker would dead-letter is refused here too,
with two extra fields the simulation reads and the contract does not have:

```json
{"event_id": "e-1", "type": "contact.received", "occurred_at": "2026-12-01T08:00:03Z",
 "channel": "voice", "identities": [{"kind": "account", "value": "17413881"}],
 "topic": "billing.refund", "handle_seconds": 212, "patience_seconds": 95.5}
```

- `handle_seconds`: how long an agent works the contact once they take it; absent
  (or null), a draw from the scenario's `traffic.handle`;
- `patience_seconds`: how long the customer waits before giving up; absent (or
  null), a draw from `traffic.patience` (no default there: they never give up).

The event's `occurred_at` is when it arrives on the virtual clock. Lines need not be
in time order (they are sorted, ties kept in file order). Events before the warm-up
or from the run's end on are left out and counted, so a month's file can be
simulated a day at a time. An `event_id` seen on an earlier line is a redelivery,
which the router handles once: the line is dropped and counted. Other fields the
contract does not know are ignored, as the worker ignores them, and named, so a
typo (`handle_second`) is seen rather than silently replaced by the default.

The file is read whole, once per run, and shared by its replications and its draft:
a month of 38,662 calls is about 36 MB of commands and 3.6 s of decoding on this
machine, and the simulation's own in-memory store of the same month is larger.
Every problem raises TrafficFileError naming the line and the field (the scenario
loader gives it as `traffic.file line 12: identities[0].value: 'x' is not a phone
number`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ticketrouter.adapters.codec import CONTACT_RECEIVED, InvalidEvent, decode_noting
from ticketrouter.domain.commands import ReceiveContact

HANDLE = "handle_seconds"
PATIENCE = "patience_seconds"


class TrafficFileError(ValueError):
    """A line the simulation cannot run: `where` is `line N`, `reason` names the field."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FileContact:
    """One recorded contact: the command the router receives, with how long it takes
    and how long its customer waits when the file says (None: the scenario's draws)."""

    command: ReceiveContact
    handle_seconds: float | None = None
    patience_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class FileTraffic:
    contacts: tuple[FileContact, ...] = ()  # inside the run, in time order
    outside: int = 0  # events before the warm-up or from the end on, left out
    redelivered: int = 0  # lines repeating an earlier line's event_id, dropped
    ignored_fields: tuple[str, ...] = ()  # unknown to the contract, as first seen


def read_traffic_file(path: Path, since: datetime, until: datetime) -> FileTraffic:
    """The events of `path` arriving in [since, until)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise TrafficFileError(str(path), f"cannot read: {err.strerror}") from None
    contacts: list[FileContact] = []
    seen: set[str] = set()
    ignored: dict[str, None] = {}
    outside = redelivered = 0
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        document = _document(line, where)
        own_handle = _seconds(document.pop(HANDLE, None), where, HANDLE)
        own_patience = _seconds(document.pop(PATIENCE, None), where, PATIENCE)
        command = _command(document, where, ignored)
        if command.event_id in seen:
            redelivered += 1
            continue
        seen.add(command.event_id)
        if not since <= command.occurred_at < until:
            outside += 1
            continue
        contacts.append(FileContact(command, own_handle, own_patience))
    contacts.sort(key=lambda c: c.command.occurred_at)  # stable: ties in file order
    return FileTraffic(tuple(contacts), outside, redelivered, tuple(ignored))


def _document(line: bytes, where: str) -> dict[str, Any]:
    try:
        document = json.loads(line)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise TrafficFileError(where, f"not JSON: {err}"[:300]) from None
    if not isinstance(document, dict):
        raise TrafficFileError(where, "must be a JSON object (one event a line)")
    return document


def _seconds(value: object, where: str, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TrafficFileError(where, f"{name}: must be a number of seconds, got {value!r}"[:300])
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise TrafficFileError(where, f"{name}: must be a finite number ≥ 0, got {value!r}")
    return seconds


def _command(document: dict[str, Any], where: str, ignored: dict[str, None]) -> ReceiveContact:
    # Written back without the simulation's own fields, the line is what the worker
    # would read, and takes the decoder's plain fast path when it is of that shape.
    try:
        decoded = decode_noting(json.dumps(document).encode())
    except InvalidEvent as err:
        raise TrafficFileError(where, err.detail) from None
    if decoded.event_type != CONTACT_RECEIVED or not isinstance(decoded.command, ReceiveContact):
        raise TrafficFileError(
            where,
            f"type: {decoded.event_type!r}: traffic is contact.received events (the "
            "simulation abandons and ends contacts itself)",
        )
    for name in decoded.unknown_fields:
        ignored.setdefault(name, None)
    return decoded.command
