"""What a bench run tells people: JSON figures on stdout, progress and failures on stderr."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence


class BenchFailed(Exception):
    """A stage could not finish (timeout, missing messages): no honest figure to print."""


def emit(figure: str, value: float, unit: str, **context: object) -> None:
    print(json.dumps({"figure": figure, "value": value, "unit": unit, **context}), flush=True)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Progress:
    """Prints `label: done/total (rate/s)` to stderr at most every `every` seconds.

    The rate counts from the first progress reported, not from a consumer-group join.
    """

    def __init__(self, label: str, total: int, every: float = 2.0) -> None:
        self.label, self.total, self.every = label, total, every
        self.start: tuple[float, int] | None = None
        self.last = time.monotonic()
        self.shown = -1

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if self.start is None and done:
            self.start = (now, done)
        if (final or now - self.last >= self.every) and done != self.shown:
            self.last, self.shown = now, done
            say(f"  {self.label}: {done:,}/{self.total:,}{self._rate(now, done)}")

    def _rate(self, now: float, done: int) -> str:
        if self.start is None:
            return " (waiting for the first records)"
        since, base = self.start
        return f" ({(done - base) / (now - since):,.0f}/s)" if now - since > 0.5 else ""


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]
