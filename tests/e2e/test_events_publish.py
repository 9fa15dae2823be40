"""`ticketrouter events publish` on a real broker with a real worker: valid lines are
published keyed by the customer, a bad line is named by its number and not sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import event_json
from tests.e2e.conftest import Service, read_topic
from ticketrouter.config import to_env

pytestmark = pytest.mark.e2e


def publish(
    service: Service, source: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticketrouter.entrypoints.cli", "events", "publish", source],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        env={**os.environ, **to_env(service.settings), **env},
    )


def test_a_file_is_published_keyed_by_customer_and_a_bad_line_is_named(
    service: Service, tmp_path: Path
) -> None:
    service.add_agent("gen", {"general": 2}, capacity={"email": 5, "chat": 5})
    lines = [
        json.dumps(event_json("p1", [("email", "Ana.Lopez@Example.com")])),
        "",
        '{"event_id": "p2", "type": "contact.received"',  # cut short
        json.dumps(event_json("p3", [("chat", "@Ana.Lopez")], channel="chat")),
    ]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n")

    result = publish(service, str(source))

    assert result.returncode == 1, result.stderr
    assert result.stdout.strip() == (
        f"published 2 events to {service.settings.contacts_topic}; refused 1 (named above)"
    )
    assert f"{source}:3: bad_json: " in result.stderr
    service.wait_processed(2)
    records = read_topic(service.runtime.bootstrap_servers, service.settings.contacts_topic, 2)
    assert sorted(r.key for r in records) == [b"chat:ana.lopez", b"email:ana.lopez@example.com"]


def test_standard_input_and_what_it_needs(service: Service) -> None:
    line = json.dumps(event_json("s1", [("email", "solo@example.com")]))
    result = publish(service, "-", stdin=line + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("published 1 events")
    service.wait_processed(1)

    nowhere = publish(service, "-", stdin=line, TICKETROUTER_KAFKA_BOOTSTRAP="")
    assert nowhere.returncode == 2
    assert "make run` prints the embedded one" in nowhere.stderr
    missing = publish(service, "/no/such/file.jsonl")
    assert missing.returncode == 2
    assert "No such file or directory" in missing.stderr and "Traceback" not in missing.stderr
