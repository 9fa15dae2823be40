"""`ticketrouter simulate` and `ticketrouter staffing` as a person runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ticketrouter.entrypoints.cli import main

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "simulate"
KEYS = {
    "offered",
    "answered",
    "abandoned",
    "abandonment_rate",
    "asa_seconds",
    "wait_p90_seconds",
    "service_level",
    "service_level_seconds",
    "p_wait",
    "occupancy",
    "handoffs_per_case",
    "fcr_rate",
    "intervals",
}


def _short(tmp_path: Path) -> Path:
    text = (DEPLOY / "voice-center.yaml").read_text()
    text = text.replace("duration: 8h", "duration: 2h").replace(
        "replications: 5", "replications: 2"
    )
    text = text.replace(
        "policy: one-skill-policy.yaml", f"policy: {DEPLOY / 'one-skill-policy.yaml'}"
    )
    path = tmp_path / "short.yaml"
    path.write_text(text)
    return path


def test_simulate_json_has_the_contract_keys_and_a_draft(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = DEPLOY / "one-skill-policy.yaml"
    assert main(["simulate", str(_short(tmp_path)), "--json", "--policy", str(draft)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out.keys() >= KEYS and KEYS - {"intervals"} <= out["draft"].keys()
    assert len(out["intervals"]) == 4  # 2 h in half hours
    assert sum(i["offered"] for i in out["intervals"]) == pytest.approx(out["offered"])
    assert out["answered"] + out["abandoned"] <= out["offered"]
    assert out["offered"] > 300  # 100 a half hour
    # The same policy on the same seeds: the same outcome.
    assert out["difference"]["asa_seconds"] == 0


def test_simulate_prints_a_table_that_fits_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", str(_short(tmp_path))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("service level") for line in lines)
    assert all(len(line) <= 80 for line in lines)
    # The breakdowns: a heading each, then one line a rule, channel and interval.
    for heading, first in (("by rule", "default"), ("by channel", "voice")):
        at = next(n for n, line in enumerate(lines) if line.startswith(heading))
        assert lines[at].split()[2:] == [
            "offered",
            "aband",
            "ASA",
            "s",
            "p90",
            "s",
            "SL",
            "occ",
            "hand",
            "FCR",
            "unrout",
        ]
        assert lines[at + 1].split()[0] == first
    at = next(n for n, line in enumerate(lines) if line.startswith("by interval"))
    assert [line.split()[1] for line in lines[at + 1 : at + 5]] == [
        "08:00",
        "08:30",
        "09:00",
        "09:30",
    ]


def test_a_bad_scenario_is_named_by_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_short(tmp_path).read_text().replace("duration: 2h", "duration: soon"))
    assert main(["simulate", str(path)]) == 2
    assert "duration: not a duration" in capsys.readouterr().err


def test_staffing_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["staffing", "--calls", "100", "--interval", "30m", "--aht", "180", "--target", "80/20"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["agents"] == 14
    assert out.keys() == {"agents", "p_wait", "asa_seconds", "service_level", "occupancy"}
    assert out["service_level"] == pytest.approx(0.8884, abs=1e-4)
    assert main([*args[:-1], "eighty"]) == 2
