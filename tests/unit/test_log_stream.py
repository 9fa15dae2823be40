"""Log lines go to the stderr of the moment: a program that runs the CLI in process
(a test, an embedding service) and swaps or closes its stderr afterwards must not
get "I/O operation on closed file" from every later log line."""

from __future__ import annotations

import io
import logging

import pytest

from ticketrouter.entrypoints import logs


def test_lines_follow_stderr_after_it_is_swapped(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("INFO")
        first.close()
        monkeypatch.setattr("sys.stderr", second)
        logging.getLogger("ticketrouter.test").info("after the swap")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    written = second.getvalue()
    assert "Logging error" not in written
    assert "INFO    ticketrouter.test: after the swap" in written
