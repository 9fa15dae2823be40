"""The invalid-ratio window that decides when a stream is broken rather than one message."""

from __future__ import annotations

import pytest

from ticketrouter.config import from_env
from ticketrouter.entrypoints.worker import InvalidRatioWindow


def _feed(window: InvalidRatioWindow, pattern: str) -> list[bool]:
    """'x' an invalid event, '.' a valid one; returns whether each tripped the limit."""
    return [window.observe(flag == "x") for flag in pattern]


def test_nothing_trips_before_the_minimum_sample_even_if_every_event_is_invalid() -> None:
    window = InvalidRatioWindow(0.5, size=10, min_sample=5)
    assert _feed(window, "xxxx") == [False] * 4
    assert window.observe(True)  # the fifth: five of five invalid


def test_one_bad_event_at_start_up_does_not_halt_a_healthy_stream() -> None:
    window = InvalidRatioWindow(0.1, size=100, min_sample=20)
    assert not any(_feed(window, "x" + "." * 200))


def test_a_share_equal_to_the_limit_is_accepted_and_more_is_not() -> None:
    window = InvalidRatioWindow(0.5, size=4, min_sample=4)
    assert _feed(window, "x.x.") == [False] * 4  # 2 of 4: at the limit
    assert _feed(window, "xx") == [False, True]  # ".x.x" still 2 of 4, then "x.xx"


def test_old_events_leave_the_window() -> None:
    window = InvalidRatioWindow(0.5, size=6, min_sample=3)
    assert _feed(window, "...xxx") == [False] * 6  # 3 of 6: at the limit
    assert window.observe(True)  # "..xxxx": 4 of 6
    # The invalid events slide out one by one: "xxxx.." is still over, "xxx..." is not.
    assert _feed(window, "......") == [True, True, False, False, False, False]
    assert (window.seen, window.invalid, window.ratio) == (6, 0, 0.0)


def test_a_limit_of_one_never_trips() -> None:
    window = InvalidRatioWindow(1.0, size=10, min_sample=1)
    assert not any(_feed(window, "x" * 50))


@pytest.mark.parametrize(
    ("limit", "size", "min_sample"), [(-0.1, 10, 1), (1.5, 10, 1), (0.5, 10, 0), (0.5, 10, 11)]
)
def test_nonsense_limits_are_refused(limit: float, size: int, min_sample: int) -> None:
    with pytest.raises(ValueError):
        InvalidRatioWindow(limit, size, min_sample)


def test_the_limit_comes_from_the_environment() -> None:
    assert from_env({}).max_invalid_ratio == 0.5
    assert from_env({"TICKETROUTER_MAX_INVALID_RATIO": "0.2"}).max_invalid_ratio == 0.2
    with pytest.raises(SystemExit, match="TICKETROUTER_MAX_INVALID_RATIO"):
        from_env({"TICKETROUTER_MAX_INVALID_RATIO": "2"})
    with pytest.raises(SystemExit, match="number"):
        from_env({"TICKETROUTER_MAX_INVALID_RATIO": "half"})
