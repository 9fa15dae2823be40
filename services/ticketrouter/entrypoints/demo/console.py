"""Shared state between the demo's threads: one printer, and the names behind ids."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from datetime import datetime

from ticketrouter.adapters.short_ids import short_id

_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def now_hms() -> str:
    return datetime.now().strftime("%H:%M:%S")


def event_lines(
    channel: str,
    name: str,
    topic: str,
    what: str,
    target: str,
    case_id: str,
    customer_id: str,
    detail: str,
    width: int | None = None,
) -> str:
    """Two lines per event, each cut to the terminal's width: what happened, then the
    ids a person can paste into GetCase / GetCustomer (their first 8 characters are
    enough) and why."""
    columns = width or shutil.get_terminal_size(fallback=(100, 24)).columns
    first = f"{now_hms()} {channel:<5} {name:<16.16} {topic:<16.16} {what:<9} {target}"
    second = f"{'':9}case {short_id(case_id)}  customer {short_id(customer_id)}  {detail}"
    return "\n".join(_fit(line, columns) for line in (first, second))


def _fit(line: str, columns: int) -> str:
    line = line.rstrip()
    return line if len(line) <= columns else line[: max(1, columns - 1)] + "…"


class Directory:
    """Who is behind an event or a customer id, so lines name people, not hashes.

    Names come from the events this run sent; a customer from an earlier run (a case
    picked up after a restart) is looked up once with `lookup` (the router's own
    record of them)."""

    def __init__(self, lookup: Callable[[str], str | None] = lambda customer_id: None) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, tuple[str, datetime]] = {}
        self._customers: dict[str, str] = {}
        self._lookup = lookup

    def sent(self, event_id: str, name: str, occurred_at: datetime) -> None:
        with self._lock:
            self._events[event_id] = (name, occurred_at)

    def claim(self, event_id: str, customer_id: str) -> datetime | None:
        """The send time of one of our events, now decided; learns the customer's name."""
        with self._lock:
            found = self._events.pop(event_id, None)
            if found is None:
                return None
            self._customers[customer_id] = found[0]
            return found[1]

    def who(self, customer_id: str) -> str:
        with self._lock:
            name = self._customers.get(customer_id)
        if name is None:
            name = self._lookup(customer_id) or "customer"
            with self._lock:  # a miss is remembered too: one call per customer
                self._customers.setdefault(customer_id, name)
        return name
