"""The simulation's figures per group: cases no agent on the roster could ever take
(per interval, rule, channel and in total), occupancy per team in each interval, and
handoffs and first-contact resolution counted in the group of the case's first
contact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ticketrouter.entrypoints.simulate.runner import run_policy
from ticketrouter.entrypoints.simulate.scenario import parse_scenario

POLICY = """\
skills: [billing, security, general]
rules:
  - name: billing
    when: contact.topic.startsWith("billing.")
    skills: {billing: 4}
    steps:
      - {after_seconds: 60, proficiency: -1}
  - name: security
    when: contact.topic == "account.security"
    skills: {security: 1}
  - name: default
    skills: {general: 1}
"""


def _stream(topic: str, channel: str, per_interval: list[int], **more: Any) -> dict[str, Any]:
    return {
        "topic": topic,
        "channel": channel,
        "per_interval": per_interval,
        "handle": {"constant": 120},
        "patience": {"constant": 600},
        **more,
    }


def _scenario(tmp_path: Path) -> Any:
    (tmp_path / "policy.yaml").write_text(POLICY)
    doc = {
        "start": "2026-12-01T08:00:00Z",
        "duration": "1h",
        "interval": "30m",
        "policy": "policy.yaml",
        "replications": 2,
        "roster": [
            # billing 3: the billing rule's step (4 -> 3) lets them take its calls
            {
                "id": "bill",
                "count": 2,
                "team": "billing",
                "skills": {"billing": 3},
                "capacity": {"voice": 1},
            },
            # security on chat only, and only in the second half hour
            {
                "id": "sec",
                "team": "security",
                "skills": {"security": 2},
                "capacity": {"chat": 1},
                "shifts": [{"start": "2026-12-01T08:30:00Z", "end": "2026-12-01T09:00:00Z"}],
            },
            {
                "id": "gen",
                "team": "care",
                "skills": {"general": 1},
                "languages": ["en"],
                "capacity": {"voice": 1},
            },
        ],
        "traffic": {
            "generated": [
                _stream("billing.refund", "voice", [10, 10]),
                # nobody works security calls on voice: never routable
                _stream("account.security", "voice", [0, 6]),
                # security chats: the one agent comes later, but comes
                _stream("account.security", "chat", [4, 4]),
                # nobody speaks French
                _stream("general.question", "voice", [5, 0], language="fr"),
                _stream("general.question", "voice", [6, 6]),
            ]
        },
        "behaviour": {"transfer": {"billing.refund": 0.5}},
    }
    return parse_scenario(yaml.safe_load(yaml.safe_dump(doc)), tmp_path)


def test_cases_no_agent_could_ever_take_are_counted_where_they_arrive(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path)
    result = run_policy(scenario, scenario.policy_file, seed=7)
    total = result.total
    first, second = (i.figures for i in result.intervals)
    # French calls in the first half hour, security calls in the second; never the
    # billing calls (routable after their step) nor the chats (the shift comes).
    assert first.unroutable > 0 and second.unroutable > 0
    assert total.unroutable == pytest.approx(first.unroutable + second.unroutable)
    assert result.by_channel["chat"].unroutable == 0
    assert result.by_rule["billing"].unroutable == 0
    assert result.by_channel["voice"].unroutable == total.unroutable
    assert result.by_rule["security"].unroutable == pytest.approx(second.unroutable)
    assert result.by_rule["default"].unroutable == pytest.approx(first.unroutable)
    # They are offered, never answered.
    assert total.offered > total.answered + total.unroutable - 1
    assert result.to_json()["unroutable"] == total.unroutable


def test_occupancy_per_team_per_interval_and_handoffs_per_group(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path)
    result = run_policy(scenario, scenario.policy_file, seed=7)
    first, second = result.intervals
    # The security agent is online only in the second half hour.
    assert "security" not in first.occupancy_by_team
    assert 0 < second.occupancy_by_team["security"] <= 1
    assert set(first.occupancy_by_team) == {"billing", "care"}
    assert all(0 <= o <= 1 for o in first.occupancy_by_team.values())
    intervals = result.to_json()["intervals"]
    assert isinstance(intervals, list)
    assert intervals[1]["occupancy_by_team"]["security"] == pytest.approx(
        second.occupancy_by_team["security"], abs=1e-6
    )
    # Only billing calls are handed off: the other groups have none.
    assert result.by_rule["billing"].handoffs_per_case > 0.2
    assert result.by_rule["default"].handoffs_per_case == 0
    assert result.by_rule["security"].handoffs_per_case == 0
    assert result.by_rule["default"].fcr_rate == 1.0
    assert result.by_rule["billing"].fcr_rate < 1.0
