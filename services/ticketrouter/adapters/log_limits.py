"""Log lines a client can cause, at most once per interval per kind.

A client that sends a million refused or malformed calls must not write a million
log lines: the first of each kind is logged, the rest are counted and reported
with the next line of that kind once the interval has passed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

INTERVAL_SECONDS = 10.0


class LimitedLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, kind: str, message: str, extra: dict[str, Any]) -> bool:
        """Log `message` unless a line of `kind` went out within the interval;
        True when it was logged."""
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self._interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            self._last[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        self._logger.log(level, message, extra={**extra, "suppressed_since_last": suppressed})
        return True
