"""External tools the tests run, installed by `make test` (Debian's prometheus and
docker-compose, PyPI's hadolint): skip politely without one, but fail in CI."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def required_tool(name: str) -> str:
    # The virtualenv's own bin holds the PyPI tools even when it is not on PATH.
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        message = f"{name} is not installed (make test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found
