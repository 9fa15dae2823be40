"""The "Anonymous Bank" call-center month (Technion SEE lab, Guedj & Mandelbaum), read
into one record a call.

The file is kept beside the project, never in it: `locate_bank_csv` finds it from
TICKETROUTER_BANK_CSV, else `../shared/data/` from the repository root. Times in the
file are local clock times without a date change: a call that enters the voice
response unit (VRU) before midnight and queues after it has a queue time "earlier"
than its entry, and is put on the next day here.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

BANK_CSV_NAME = "anonymous_bank_callcenter_1999-08.csv"
BANK_CSV_VARIABLE = "TICKETROUTER_BANK_CSV"
NO_SERVER = "NO_SERVER"
_MIDNIGHT = "0:00:00"  # what the file writes for a stage the call never reached
COLUMNS = (
    "vru+line",
    "call_id",
    "customer_id",
    "priority",
    "type",
    "date",
    "vru_entry",
    "vru_exit",
    "vru_time",
    "q_start",
    "q_exit",
    "q_time",
    "outcome",
    "ser_start",
    "ser_exit",
    "ser_time",
    "server",
)


class BankFileError(ValueError):
    """The file is not the bank month: `where` is `line N, column` or the file."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class Outcome(StrEnum):
    AGENT = "AGENT"  # served by an agent
    HANG = "HANG"  # the caller hung up (in the VRU, or waiting in the queue)
    PHANTOM = "PHANTOM"  # the data's authors: a virtual call, to be ignored


@dataclass(frozen=True, slots=True)
class BankCall:
    line: str  # vru+line: with call_id, the call's unique key
    call_id: str
    customer_id: str  # "0": not identified
    priority: int  # 0 unidentified, 1 regular, 2 high-priority customer
    service: str  # PS, NW, IN, NE, TT, PE
    vru_entry: datetime
    queued_at: datetime | None  # None: never reached the agents' queue
    wait_seconds: float  # time in the queue (0 when served straight from the VRU)
    outcome: Outcome
    served_at: datetime | None
    service_seconds: float
    server: str  # the agent's name, or NO_SERVER

    @property
    def key(self) -> str:
        return f"{self.line}-{self.call_id}"

    @property
    def asked_for_agent(self) -> bool:
        """Reached the agents' queue or an agent: a VRU-only hang-up did not (it left
        the self-service menu), and a PHANTOM is no call at all."""
        if self.outcome is Outcome.PHANTOM:
            return False
        return self.outcome is Outcome.AGENT or self.wait_seconds > 0

    @property
    def arrived_at(self) -> datetime:
        """When the call asked for an agent: it joined the queue, or (served straight
        from the VRU) an agent picked it up."""
        return self.queued_at or self.served_at or self.vru_entry


def locate_bank_csv(repo_root: Path | None = None) -> Path:
    """The configured file, else the shared copy beside the repository (which may be
    absent: callers check `is_file()` and say so)."""
    configured = os.environ.get(BANK_CSV_VARIABLE, "")
    if configured:
        return Path(configured)
    root = repo_root or Path(__file__).resolve().parents[4]
    return root.parent / "shared" / "data" / BANK_CSV_NAME


def read_bank_calls(path: Path) -> list[BankCall]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(_calls(csv.DictReader(handle), path.name))
    except OSError as err:
        raise BankFileError(str(path), f"cannot read: {err.strerror or err}") from None


def _calls(rows: csv.DictReader[str], name: str) -> Iterator[BankCall]:
    missing = [c for c in COLUMNS if c not in (rows.fieldnames or ())]
    if missing:
        raise BankFileError(name, f"not the bank month: no column(s) {', '.join(missing)}")
    for number, row in enumerate(rows, start=2):
        yield _call(row, f"{name} line {number}")


def _call(row: dict[str, str], where: str) -> BankCall:
    day = _date(row["date"], f"{where}, date")
    entry = _at(day, row["vru_entry"], None, f"{where}, vru_entry")
    outcome = _outcome(row["outcome"], f"{where}, outcome")
    wait = _seconds(row["q_time"], f"{where}, q_time")
    queued = None
    if row["q_start"] != _MIDNIGHT or wait > 0:
        queued = _at(day, row["q_start"], entry, f"{where}, q_start")
    served = None
    if outcome is Outcome.AGENT:
        served = _at(day, row["ser_start"], entry, f"{where}, ser_start")
    return BankCall(
        line=row["vru+line"],
        call_id=row["call_id"],
        customer_id=row["customer_id"].strip() or "0",
        priority=int(_seconds(row["priority"], f"{where}, priority")),
        service=row["type"].strip(),
        vru_entry=entry,
        queued_at=queued,
        wait_seconds=wait,
        outcome=outcome,
        served_at=served,
        service_seconds=_seconds(row["ser_time"], f"{where}, ser_time"),
        server=row["server"].strip() or NO_SERVER,
    )


def _date(value: str, where: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BankFileError(where, f"not a date: {value!r}") from None


def _at(day: date, clock: str, after: datetime | None, where: str) -> datetime:
    """A time of day on `day`, or on the next day when it would come before `after`
    (the call crossed midnight)."""
    try:
        hours, minutes, seconds = (int(part) for part in clock.strip().split(":"))
        moment = datetime(day.year, day.month, day.day) + timedelta(
            hours=hours, minutes=minutes, seconds=seconds
        )
    except ValueError:
        raise BankFileError(where, f"not a time of day: {clock!r}") from None
    if after is not None and moment < after - timedelta(seconds=1):
        moment += timedelta(days=1)
    return moment


def _seconds(value: str, where: str) -> float:
    try:
        number = int(value.strip())
    except ValueError:
        raise BankFileError(where, f"not a whole number: {value!r}") from None
    if number < 0:
        raise BankFileError(where, f"negative: {number}")
    return float(number)


def _outcome(value: str, where: str) -> Outcome:
    try:
        return Outcome(value.strip().upper())
    except ValueError:
        allowed = ", ".join(o.value for o in Outcome)
        raise BankFileError(where, f"unknown outcome {value!r} (one of {allowed})") from None
