"""Recorded traffic: a scenario's JSON-lines file of contact.received events arrives on
the virtual clock at each event's occurred_at, with its own handle time and patience,
through the same handlers production runs; a repeat contact inside the FCR window
reopens its case and takes back its first-contact credit; a bad line is named by its
number and field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ticketrouter.adapters.rules_file import load_policy
from ticketrouter.domain.cases import CaseStatus
from ticketrouter.entrypoints.simulate.engine import Replication
from ticketrouter.entrypoints.simulate.runner import run_policy
from ticketrouter.entrypoints.simulate.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
)

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "simulate" / "one-skill-policy.yaml"
START = datetime(2026, 12, 1, 8, tzinfo=UTC)


def _event(n: int, seconds: float, customer: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"e-{n}",
        "type": "contact.received",
        "occurred_at": (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
        "channel": "voice",
        "identities": [{"kind": "account", "value": customer}],
        "topic": "general.question",
        **extra,
    }


def _scenario(tmp_path: Path, lines: list[str], agents: int = 1, **changes: object) -> Scenario:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "contacts.jsonl").write_text("\n".join(lines) + "\n")
    doc: dict[str, Any] = {
        "start": START.isoformat(),
        "duration": "4h",
        "policy": str(POLICY),
        "roster": [{"id": "a", "count": agents, "skills": {"general": 1}}],
        "traffic": {"file": "contacts.jsonl", "handle": {"constant": 60}},
    }
    doc.update(changes)
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(doc))
    return load_scenario(tmp_path / "scenario.yaml")


def _run(scenario: Scenario) -> Replication:
    replication = Replication(scenario, load_policy(POLICY).with_version(1), 1)
    replication.run()
    return replication


def test_events_arrive_at_their_time_with_their_own_handle_and_patience(
    tmp_path: Path,
) -> None:
    lines = [
        json.dumps(_event(1, 0, "A", handle_seconds=100)),
        json.dumps(_event(2, 10, "B")),  # waits for the one agent: 90 s
        json.dumps(_event(3, 20, "C", patience_seconds=5)),  # gives up at 25 s
        json.dumps(_event(4, 30, "D", handle_seconds=7)),  # after B's 60 s default
    ]
    replication = _run(_scenario(tmp_path, list(reversed(lines))))  # any order
    by_id = {c.event_id: c for c in replication.tally.contacts}
    assert [by_id[f"e-{n}"].arrived for n in (1, 2, 3, 4)] == [0, 10, 20, 30]
    assert by_id["e-1"].answered == 0 and by_id["e-2"].answered == 100
    assert by_id["e-3"].abandoned == 25 and by_id["e-3"].answered is None
    assert by_id["e-4"].answered == 160  # B took its scenario default of 60 s
    case = replication.repo.get_case(by_id["e-4"].case_id)
    assert case is not None and case.resolved_at == START + timedelta(seconds=167)


def test_a_repeat_contact_inside_the_fcr_window_takes_back_the_credit(
    tmp_path: Path,
) -> None:
    once = [json.dumps(_event(n, 600 * n, f"customer-{n}")) for n in range(4)]
    # customer-0 comes back an hour after their first call was resolved.
    again = [*once, json.dumps(_event(9, 3600, "customer-0"))]
    alone = run_policy(_scenario(tmp_path / "once", once, fcr_window="1d"), POLICY, 1)
    scenario = _scenario(tmp_path / "again", again, fcr_window="1d")
    repeated = run_policy(scenario, POLICY, 1)
    assert alone.total.fcr_rate == 1.0
    # Five resolutions (the reopened case resolves again), three first-contact.
    assert repeated.total.fcr_rate == pytest.approx(3 / 5)
    replication = _run(scenario)
    first = next(c for c in replication.tally.contacts if c.event_id == "e-0")
    repeat = next(c for c in replication.tally.contacts if c.event_id == "e-9")
    assert first.case_id == repeat.case_id  # reopened, not a new ticket
    case = replication.repo.get_case(first.case_id)
    assert case is not None and case.status is CaseStatus.RESOLVED
    assert case.contact_count == 2 and not case.first_contact_resolved
    # Outside the window the customer is a new case and keeps both credits.
    later = run_policy(_scenario(tmp_path / "later", again, fcr_window="30m"), POLICY, 1)
    assert later.total.fcr_rate == 1.0


def test_file_and_generated_traffic_arrive_together(tmp_path: Path) -> None:
    generated = {
        "topic": "general.question",
        "channel": "chat",
        "per_hour": 30,
        "handle": {"constant": 30},
    }
    lines = [json.dumps(_event(n, 60 * n, f"c-{n}")) for n in range(10)]
    scenario = _scenario(
        tmp_path,
        lines,
        agents=3,
        traffic={"file": "contacts.jsonl", "generated": [generated]},
        roster=[
            {"id": "a", "count": 3, "skills": {"general": 1}, "capacity": {"voice": 1, "chat": 1}}
        ],
    )
    result = run_policy(scenario, POLICY, 4)
    assert result.by_channel["voice"].offered == 10
    assert 60 < result.by_channel["chat"].offered < 180  # 4 h at 30 an hour


def test_events_outside_the_run_and_redeliveries_are_left_out(tmp_path: Path) -> None:
    lines = [
        json.dumps(_event(1, -7200, "A")),  # before the one-hour warm-up
        json.dumps(_event(2, -1800, "B")),  # in the warm-up: simulated, not reported
        json.dumps(_event(3, 60, "C")),
        json.dumps(_event(3, 90, "C")),  # the same event_id again: delivered once
        json.dumps(_event(4, 4 * 3600, "D")),  # at the end: outside
        json.dumps(_event(5, 120, "E", colour="red")),  # ignored, and named
    ]
    scenario = _scenario(tmp_path, lines, warm_up="1h")
    recorded = scenario.traffic.recorded
    assert [c.command.event_id for c in recorded.contacts] == ["e-2", "e-3", "e-5"]
    assert (recorded.outside, recorded.redelivered) == (2, 1)
    assert recorded.ignored_fields == ("colour",)
    assert [c.event_id for c in _run(scenario).tally.contacts] == ["e-3", "e-5"]


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({**_event(2, 0, "A"), "topic": ""}), "topic is required"),
        (json.dumps(_event(2, 0, "A", handle_seconds=-1)), "handle_seconds"),
        (json.dumps(_event(2, 0, "A", patience_seconds="soon")), "patience_seconds"),
        (json.dumps({**_event(2, 0, "A"), "channel": "fax"}), "channel"),
        (json.dumps({**_event(2, 0, "A"), "occurred_at": "today"}), "occurred_at"),
        (
            json.dumps({**_event(2, 0, "A"), "identities": [{"kind": "phone", "value": "x"}]}),
            "identities[0].value",
        ),
        (
            json.dumps({**_event(2, 0, "A"), "type": "contact.ended", "contact_id": "e-1"}),
            "type",
        ),
    ],
)
def test_a_bad_line_is_named_by_its_number_and_field(tmp_path: Path, line: str, named: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        _scenario(tmp_path, [json.dumps(_event(1, 0, "A")), "", line])
    assert raised.value.field == "traffic.file line 3"
    assert named in raised.value.reason


def test_offered_contacts_are_answered_when_the_agent_accepts(tmp_path: Path) -> None:
    lines = [json.dumps(_event(n, 600 * n, f"c-{n}")) for n in range(5)]
    behaviour = {"offer_timeout": 20, "accept": 1.0, "answer": {"constant": 2}}
    replication = _run(_scenario(tmp_path, lines, behaviour=behaviour))
    waits = [c.answered - c.arrived for c in replication.tally.contacts if c.answered]
    assert waits == [2.0] * 5


def test_a_customer_who_calls_again_while_waiting_is_answered_once_taken(
    tmp_path: Path,
) -> None:
    """Their second call joins the waiting case; when it gives up the first still
    waits, and the agent who takes the case answers it (before, the second call's
    leaving dropped the case's waiting contact, the agent's work began unanswered and
    the first call's patience then ended the case under them)."""
    lines = [
        json.dumps(_event(1, 0, "X", handle_seconds=100)),  # holds the one agent
        json.dumps(_event(2, 5, "A", patience_seconds=1000)),
        json.dumps(_event(3, 10, "A", patience_seconds=10)),  # gives up at 20 s
    ]
    replication = _run(_scenario(tmp_path, lines))
    by_id = {c.event_id: c for c in replication.tally.contacts}
    assert by_id["e-3"].abandoned == 20 and by_id["e-3"].answered is None
    assert by_id["e-2"].answered == 100 and by_id["e-2"].abandoned is None
    case = replication.repo.get_case(by_id["e-2"].case_id)
    assert case is not None and case.status is CaseStatus.RESOLVED
