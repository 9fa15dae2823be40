"""`ticketrouter simulate import-bank`: the bank month becomes a scenario the
simulation's own loader and the policy validator accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_bank_history import ROWS, _write
from ticketrouter.adapters.codec import decode_noting
from ticketrouter.adapters.rules_file import load_policy
from ticketrouter.domain.plan import ContactFacts
from ticketrouter.entrypoints.bank.calls import locate_bank_csv
from ticketrouter.entrypoints.cli import main
from ticketrouter.entrypoints.simulate.results import Figures, SimulationResult
from ticketrouter.entrypoints.simulate.scenario import load_scenario


def test_a_month_becomes_a_scenario_with_recorded_arrivals(tmp_path: Path) -> None:
    source = _write(tmp_path, ROWS)
    output = tmp_path / "out" / "bank.yaml"
    output.parent.mkdir()
    assert main(["simulate", "import-bank", str(source), "-o", str(output)]) == 0
    scenario = load_scenario(output)
    assert scenario.service_level_seconds == 60
    assert sorted(m.agent.agent_id for m in scenario.roster) == ["ana", "ben"]
    ana = next(m for m in scenario.roster if m.agent.agent_id == "ana")
    assert len(ana.shifts) == 2  # before and after midnight
    events = [json.loads(line) for line in scenario.traffic.file.read_text().splitlines()]
    assert len(events) == 4  # neither the VRU hang-up nor the phantom
    assert [e["topic"] for e in events] == ["bank.ps", "bank.ps", "bank.nw", "bank.nw"]
    abandoned = events[2]
    assert abandoned["handle_seconds"] == 300.0  # drawn from NW's served calls
    assert all(e.get("patience_seconds", 0) >= 0 for e in events)
    # PS has no hang-up in these rows: its callers' patience has no end, and the
    # events leave it out rather than write Infinity, which is not JSON.
    assert [e.get("patience_seconds") is None for e in events] == [True, True, False, False]
    assert len(scenario.traffic.recorded.contacts) == 4
    assert events[1]["identities"] == [{"kind": "account", "value": "77"}]
    current = load_policy(output.with_name("bank.policy.yaml"))
    draft = load_policy(output.with_name("bank.draft-nw-overflow.yaml"))
    assert "nw-unidentified" in current.rule_names
    assert not current.warnings and not draft.warnings


def test_an_unreadable_file_is_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "import-bank", str(tmp_path / "none.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_real_month_converts(tmp_path: Path) -> None:
    path = locate_bank_csv()
    if not path.is_file():
        pytest.skip(f"the bank month is not at {path} (set TICKETROUTER_BANK_CSV)")
    output = tmp_path / "bank.yaml"
    assert main(["simulate", "import-bank", str(path), "-o", str(output)]) == 0
    scenario = load_scenario(output)
    assert len(scenario.roster) == 31
    lines = scenario.traffic.file.read_bytes().splitlines()
    assert len(lines) == 38_662
    for line in lines[::50]:  # the production decoder takes them
        assert decode_noting(line).command is not None


def test_compare_prints_history_beside_a_saved_simulation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path, ROWS)
    simulated = SimulationResult(
        total=Figures(offered=4, answered=4, asa_seconds=12.5, service_level=1.0),
        by_rule={
            "ps-unidentified": Figures(offered=1, answered=1, asa_seconds=0.0, service_level=1),
            "ps-high": Figures(offered=1, answered=1, asa_seconds=20.0, service_level=1),
            "nw-unidentified": Figures(
                offered=1, abandoned=1, abandonment_rate=1.0, service_level=0
            ),
            "nw-regular": Figures(offered=1, answered=1, asa_seconds=30.0, service_level=1),
        },
    )
    saved = tmp_path / "sim.json"
    saved.write_text(json.dumps(simulated.to_json()))
    assert main(["simulate", "import-bank", str(source), "--compare", str(saved)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    ps = next(line for line in lines if line.startswith("PS")).split()
    # offered, abandoned history/sim, ASA history/sim, service level history/sim
    assert ps == ["PS", "2", "0.0%", "0.0%", "45.0", "10.0", "50.0%", "100.0%"]
    nw = next(line for line in lines if line.startswith("NW")).split()
    assert nw[2:4] == ["50.0%", "50.0%"]


def test_compare_refuses_what_is_not_a_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path, ROWS)
    saved = tmp_path / "sim.json"
    saved.write_text('{"hello": 1}')
    assert main(["simulate", "import-bank", str(source), "--compare", str(saved)]) == 2
    assert "not a simulation result" in capsys.readouterr().err


def test_converted_events_are_the_contract_and_reach_their_queue(tmp_path: Path) -> None:
    """Each event decodes on the production path (its two simulation fields are
    ignored there, as unknown optional fields are), and the policy sends it to the
    rule of its service type and priority class."""
    source = _write(tmp_path, ROWS)
    output = tmp_path / "bank.yaml"
    assert main(["simulate", "import-bank", str(source), "-o", str(output)]) == 0
    policy = load_policy(output.with_name("bank.policy.yaml"))
    lines = output.with_name("bank.traffic.jsonl").read_bytes().splitlines()
    rules = []
    for line in lines:
        decoded = decode_noting(line)
        assert set(decoded.unknown_fields) <= {"handle_seconds", "patience_seconds"}
        event = json.loads(line)
        facts = ContactFacts("voice", event["topic"], "he", attributes=event["attributes"])
        rules.append(policy.plan_for(facts).rule)
    assert rules == ["ps-unidentified", "ps-high", "nw-unidentified", "nw-regular"]
