"""`ticketrouter worker` processes for the scale-out stage, and a scratch PostgreSQL
database per run, created beside the configured (or the development) server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from ticketrouter.config import Settings, to_env

# Where the bench makes its scratch databases when the router is not configured with
# PostgreSQL: the development and CI server (README, "Two commands").
DEVELOPMENT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


class NoPostgres(Exception):
    """No PostgreSQL server answered: the stage cannot run here."""


def postgres_server(settings: Settings) -> str:
    url = settings.database_url
    return url if url.startswith("postgresql") else DEVELOPMENT_POSTGRES


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """A fresh, empty database on `server`, dropped afterwards; yields its URL."""
    name = f"ticketrouter_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as err:
        admin.dispose()
        raise NoPostgres(str(err).splitlines()[0]) from None
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def assignments(self) -> list[int]:
        """Partition counts of every assignment it logged, in order."""
        if not self.log.exists():
            return []
        return [
            int(line.split("count=", 1)[1].split()[0])
            for line in self.log.read_text(errors="replace").splitlines()
            if "partitions assigned" in line
        ]

    def alive(self) -> bool:
        return self.process.poll() is None

    def retried_batches(self) -> int:
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count("retrying the batch without committing")

    def tail(self, lines: int = 15) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start_workers(settings: Settings, count: int, logs: Path) -> list[WorkerProcess]:
    return [
        start_process(settings, ["worker"], logs / f"{settings.group_id}-{number}.log")
        for number in range(count)
    ]


def start_process(
    settings: Settings, command: list[str], log: Path, log_format: str = "text"
) -> WorkerProcess:
    """`ticketrouter COMMAND` with these settings, its output in `log`; the
    assignments are read from the log, so it logs at INFO."""
    env = {
        **os.environ,
        **to_env(settings),
        "TICKETROUTER_METRICS_ADDRESS": "127.0.0.1:0",
        "TICKETROUTER_LOG_LEVEL": "INFO",
        "TICKETROUTER_LOG_FORMAT": log_format,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ticketrouter.entrypoints.cli", *command],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return WorkerProcess(process, log)


def stop_workers(workers: list[WorkerProcess]) -> None:
    for worker in workers:
        if worker.alive():
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout=10)
