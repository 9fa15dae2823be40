"""The end-to-end tests' wait on a count: it fails when the count stops moving, however
long it took to get there, and never while the count keeps moving."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.e2e.progress import Clock, wait_for_progress


class FakeTime:
    """A clock that moves only when the wait sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(now=lambda: self.now, sleep=self.sleep)


def counter(steps: Iterator[int]) -> Callable[[], int]:
    last = [0]

    def count() -> int:
        last[0] = next(steps, last[0])
        return last[0]

    return count


def test_a_slow_count_that_keeps_moving_is_waited_for() -> None:
    time = FakeTime()
    # One more event every 10 s of polling: 500 s for 50, far beyond any fixed limit
    # the old waits had, and never 60 s without progress.
    slow = counter(iter(n // 200 for n in range(10_001)))
    assert wait_for_progress(slow, 50, "events", poll=0.05, clock=time.clock()) == 50
    assert time.now > 400


def test_a_count_that_stops_moving_fails_after_the_stall_limit() -> None:
    time = FakeTime()
    stuck = counter(iter([0, 10, 20, 30]))  # then stays at 30
    with pytest.raises(AssertionError) as failure:
        wait_for_progress(stuck, 100, "processed events", stall=60, poll=1, clock=time.clock())
    message = str(failure.value)
    assert "waiting for 100 processed events: have 30 (from 0)" in message
    assert "no progress for 60s" in message
    assert "last progress 3.0s in, at 10.0/s" in message
    assert 63 <= time.now <= 64


def test_a_count_that_never_moves_says_so() -> None:
    time = FakeTime()
    with pytest.raises(AssertionError, match="it never moved"):
        wait_for_progress(lambda: 0, 1, "events", stall=5, poll=1, clock=time.clock())


def test_a_count_still_moving_at_the_ceiling_fails() -> None:
    time = FakeTime()
    endless = counter(iter(range(1_000_000)))
    with pytest.raises(AssertionError, match="still moving after the 100s ceiling"):
        wait_for_progress(endless, 10**9, "events", ceiling=100, poll=1, clock=time.clock())


def test_a_count_already_there_returns_without_sleeping() -> None:
    time = FakeTime()
    assert wait_for_progress(lambda: 7, 5, "events", clock=time.clock()) == 7
    assert time.now == 0


def test_the_count_can_fail_the_wait_at_once() -> None:
    def dead() -> int:
        raise AssertionError("no worker is running")

    with pytest.raises(AssertionError, match="no worker is running"):
        wait_for_progress(dead, 1, "events", clock=FakeTime().clock())
