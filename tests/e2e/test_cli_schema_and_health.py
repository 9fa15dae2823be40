"""The command line on real processes: a server or worker started on a schema it
cannot use stops with one clear message and exit status 2 (not a retry loop, no
traceback), and `ticketrouter health` answers from the gRPC health service."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.e2e.conftest import Service
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.schema import prepare_schema

pytestmark = pytest.mark.e2e


def ticketrouter(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticketrouter.entrypoints.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_schema_from_a_newer_version_stops_the_process_with_status_2(
    tmp_path: Path, command: str
) -> None:
    url = f"sqlite:///{tmp_path}/router.db"
    database = connect(url)
    prepare_schema(database.writer, auto_migrate=False)
    with database.writer.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    database.dispose()

    result = ticketrouter(command, env={"TICKETROUTER_DATABASE_URL": url})

    assert result.returncode == 2, result.stderr[-2000:]
    assert f"ticketrouter {command}: the database schema is at f00d" in result.stderr
    assert "Traceback" not in result.stderr
    assert "embedded broker started" not in result.stderr, "refused before starting anything"


def test_health_says_serving_for_a_running_server(service: Service) -> None:
    result = ticketrouter("health", "--address", f"0.0.0.0:{service.runtime.grpc_port}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"health 127.0.0.1:{service.runtime.grpc_port}: SERVING"


def test_health_fails_where_nothing_serves() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = ticketrouter("health", "--address", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr or "DEADLINE_EXCEEDED" in result.stderr
