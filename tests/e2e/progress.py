"""Waiting on work that moves: give up when a count stops moving, not when a clock
runs out.

On a machine busy with other work the same test may take three times as long; a
fixed limit then fails a system that is healthy but slow. A count that has not moved
for a minute is stuck whatever the machine, and the failure says how far it got,
when it last moved and how fast it was going.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

STALL_S = 60.0  # no progress for this long: something is stuck
CEILING_S = 1800.0  # even a count that keeps moving gives up here
# pytest-timeout for tests made of several such waits: the last resort, not the check.
TEST_CEILING_S = 3600


@dataclass(frozen=True)
class Clock:
    """Where a wait reads the time and sleeps; tests of the wait pass fakes."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def wait_for_progress(
    count: Callable[[], int],
    target: int,
    what: str,
    *,
    stall: float = STALL_S,
    ceiling: float = CEILING_S,
    poll: float = 0.05,
    clock: Clock | None = None,
) -> int:
    """Polls `count` until it reaches `target`; returns the count then.

    Fails with AssertionError when the count has not grown for `stall` seconds, or
    after `ceiling` seconds in all. `count` may raise to fail at once (e.g. when
    every worker has died).
    """
    clock = clock or Clock()
    start = clock.now()
    initial = best = count()
    moved_at = start
    while best < target:
        now = clock.now()
        if now - moved_at >= stall or now - start >= ceiling:
            raise AssertionError(
                _gave_up(what, target, best, initial, start, moved_at, now, stall, ceiling)
            )
        clock.sleep(poll)
        seen = count()
        if seen > best:
            best, moved_at = seen, clock.now()
    return best


def _gave_up(
    what: str,
    target: int,
    best: int,
    initial: int,
    start: float,
    moved_at: float,
    now: float,
    stall: float,
    ceiling: float,
) -> str:
    why = (
        f"no progress for {now - moved_at:.0f}s (stall limit {stall:g}s)"
        if now - moved_at >= stall
        else f"still moving after the {ceiling:g}s ceiling"
    )
    if moved_at > start:
        rate = (best - initial) / (moved_at - start)
        last = f"last progress {moved_at - start:.1f}s in, at {rate:,.1f}/s since the start"
    else:
        last = "it never moved"
    return (
        f"waiting for {target:,} {what}: have {best:,} (from {initial:,}) after "
        f"{now - start:.1f}s; {why}; {last}"
    )
