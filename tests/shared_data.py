"""Reference data kept beside the repository (never copied into it): `../shared/data/`
from the repository root, or the folder TICKETROUTER_SHARED_DATA names."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_file(name: str) -> Path:
    """The file, or the test is skipped saying where it was looked for."""
    folder = Path(os.environ.get("TICKETROUTER_SHARED_DATA") or ROOT.parent / "shared" / "data")
    path = folder / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (set TICKETROUTER_SHARED_DATA to its folder)")
    return path


def erlang_reference_cases() -> list[dict[str, Any]]:
    """The M/M/c cases: calls per interval, AHT, target, agents and the expected
    P(wait), service level, ASA and occupancy."""
    cases: list[dict[str, Any]] = json.loads(
        shared_file("erlang_reference_cases.json").read_text()
    )["cases"]
    return cases
