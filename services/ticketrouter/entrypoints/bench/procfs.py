"""CPU time and memory of processes on this machine, read from /proc (Linux).

The scale-out stage divides the contacts routed by the CPU seconds spent on them
by the workers and by PostgreSQL together, so a figure cannot look better by
moving work from the workers into the database.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it has exited)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    # The command name is in parentheses and may hold spaces: split after it.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), in MiB."""
    return _status_mib(pid, "VmHWM:")


def rss_mb(pid: int) -> float | None:
    """The process's resident set now (VmRSS), in MiB."""
    return _status_mib(pid, "VmRSS:")


def _status_mib(pid: int, key: str) -> float | None:
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return None


def postgres_cpu_seconds() -> float | None:
    """CPU seconds of every PostgreSQL process on this machine (server and
    backends), or None when none can be seen (a remote server)."""
    total, seen = 0.0, False
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("postgres"):
            seen = True
            total += cpu_seconds(int(entry.name))
    return total if seen else None
