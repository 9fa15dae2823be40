"""A real Prometheus server on 127.0.0.1 that scrapes the service and evaluates
the project's recording rules."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.tools import required_tool
from ticketrouter.adapters.broker import free_port

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"


class PrometheusServer:
    def __init__(self, target: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._workdir = workdir
        self._target = target
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        config = self._workdir / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{RULES}/*.yml']\n"
            "scrape_configs:\n"
            f"  - job_name: ticketrouter\n    static_configs: [{{targets: ['{self._target}']}}]\n"
        )
        self._process = subprocess.Popen(
            [
                required_tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={self._workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=(self._workdir / "prometheus.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = (self._workdir / "prometheus.log").read_text()[-2000:]
                raise RuntimeError(f"prometheus exited: {log}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def query(self, expression: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expression: str) -> float | None:
        result = self.query(expression)
        return float(result[0]["value"][1]) if result else None
