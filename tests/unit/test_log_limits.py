"""Lines a client can cause are logged once per interval, with a count of the rest."""

from __future__ import annotations

import logging

import pytest

from ticketrouter.adapters.log_limits import LimitedLog


def test_one_line_per_kind_per_interval_and_the_rest_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    limited = LimitedLog(logging.getLogger("test.limits"), 10.0, lambda: now[0])
    caplog.set_level(logging.INFO)
    logged = [limited.log(logging.INFO, "UNAUTHENTICATED", "refused", {}) for _ in range(50)]
    assert logged.count(True) == 1
    assert limited.log(logging.INFO, "PERMISSION_DENIED", "refused", {}), "kinds apart"
    now[0] = 10.5
    assert limited.log(logging.INFO, "UNAUTHENTICATED", "refused", {"method": "/x"})
    counts = [r.suppressed_since_last for r in caplog.records]
    assert counts == [0, 0, 49]
