"""The consumer checks each record batch's CRC-32C (a corrupted batch must never be
routed); the check must run in C: in pure Python it took a fifth of the worker's
time in the bench's profile."""

from __future__ import annotations

import inspect

import crc32c
from kafka.record import util


def test_kafka_python_checks_crcs_with_the_c_implementation() -> None:
    checker = inspect.signature(util.calc_crc32c).parameters["_crc32c"].default
    assert checker is crc32c.crc32c, f"record CRCs are checked by {checker!r}, not crc32c"
    assert util.calc_crc32c(memoryview(b"123456789")) == 0xE3069283  # the standard check value
