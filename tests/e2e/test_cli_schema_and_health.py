"""The command line on real processes: a server or worker started on a schema it
cannot use stops with one clear message and exit status 2 (not a retry loop, no
traceback), and `ticketrouter health` answers from the gRPC health service."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.e2e.conftest import Service, e2e_settings
from ticketrouter.adapters.broker import EmbeddedBroker
from ticketrouter.adapters.database import connect
from ticketrouter.adapters.schema import prepare_schema
from ticketrouter.config import to_env

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


def test_serve_without_worker_answers_grpc_and_consumes_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The server Deployment's command: gRPC and /metrics, no consumer in the group."""
    settings = e2e_settings(broker, f"sqlite:///{tmp_path}/router.db")
    env = {**os.environ, **to_env(settings), "TICKETROUTER_LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ticketrouter.entrypoints.cli", "serve", "--without-worker"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        started: dict[str, str] = {}
        for line in process.stderr:  # ends when the process does
            record = json.loads(line)
            if record["msg"] == "ticketrouter serving":
                started = record
                break
        assert started, f"never served; exit status {process.wait(timeout=30)}"
        assert started["worker"] == "off"
        result = ticketrouter("health", "--address", started["grpc"])
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(": SERVING")
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
