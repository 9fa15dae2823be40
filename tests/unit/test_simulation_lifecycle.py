"""Callers who give up and calls that end go through the router's own handlers
(contact.abandoned, contact.ended): an abandoned call is never given to an agent, and
an ended call frees the agent for the next one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ticketrouter.adapters.rules_file import load_policy
from ticketrouter.domain.cases import CaseStatus
from ticketrouter.domain.channels import Channel
from ticketrouter.entrypoints.simulate.engine import Replication
from ticketrouter.entrypoints.simulate.scenario import ScenarioError, parse_scenario

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "simulate" / "one-skill-policy.yaml"


def test_abandoned_calls_leave_the_queue_and_are_never_answered(tmp_path: Path) -> None:
    doc = {
        "duration": "2h",
        "policy": str(POLICY),
        "roster": [{"id": "a", "count": 3, "skills": {"general": 1}, "capacity": {"voice": 1}}],
        "traffic": {
            "generated": [
                {
                    "topic": "general.question",
                    "channel": "voice",
                    "per_interval": [60],  # 6 Erlangs on 3 agents: most give up
                    "handle": {"exponential": 180},
                    "patience": {"exponential": 60},
                }
            ]
        },
    }
    scenario = parse_scenario(yaml.safe_load(yaml.safe_dump(doc)), tmp_path)
    replication = Replication(scenario, load_policy(POLICY).with_version(1), 3)
    tally = replication.run()
    abandoned = [c for c in tally.contacts if c.abandoned is not None]
    assert len(abandoned) > len(tally.contacts) / 3
    assert all(c.answered is None for c in abandoned)
    statuses = [replication.repo.get_case(c.case_id) for c in abandoned]
    assert all(s is not None and s.status is CaseStatus.ABANDONED for s in statuses)
    # Every call an agent took was ended and resolved by the end of the run.
    answered = [replication.repo.get_case(c.case_id) for c in tally.contacts if c.answered]
    assert all(s is not None and s.status is CaseStatus.RESOLVED for s in answered)


def test_a_voice_wrap_up_holds_the_slot_so_occupancy_and_asa_grow(tmp_path: Path) -> None:
    def run(wrap_up: dict[str, int]) -> tuple[float, float, float]:
        doc = {
            "duration": "4h",
            "policy": str(POLICY),
            "roster": [{"id": "a", "count": 4, "skills": {"general": 1}, "capacity": {"voice": 1}}],
            "traffic": {
                "generated": [
                    {
                        "topic": "general.question",
                        "channel": "voice",
                        "per_hour": 60,  # 3 Erlangs of talk on 4 agents
                        "handle": {"exponential": 180},
                    }
                ]
            },
            "behaviour": {"wrap_up": wrap_up},
        }
        scenario = parse_scenario(yaml.safe_load(yaml.safe_dump(doc)), tmp_path)
        replication = Replication(scenario, load_policy(POLICY).with_version(1), 5)
        tally = replication.run()
        cases = [replication.repo.get_case(c.case_id) for c in tally.contacts if c.answered]
        resolved = sum(1 for c in cases if c is not None and c.status is CaseStatus.RESOLVED)
        total = tally.total()
        return total.occupancy, total.asa_seconds, resolved / len(cases)

    occupancy, asa, resolved = run({})
    wrapped_occupancy, wrapped_asa, wrapped_resolved = run({"voice": 30})
    # 30 s after each 180 s call: about a sixth more agent time, and longer waits.
    assert wrapped_occupancy > occupancy * 1.1
    assert wrapped_asa > asa * 1.2
    assert resolved == wrapped_resolved == 1.0  # each call still resolved after its wrap-up
    # A chat wrap-up leaves a voice center as it was.
    assert run({"chat": 30})[:2] == (occupancy, asa)


def test_blended_units_bound_what_an_agent_holds_at_once(tmp_path: Path) -> None:
    """One agent with eight chat slots: alone they let eight chats run at once; with
    100 units and a chat costing 20, five do, and the rest wait for a chat to end."""

    def answered_at_once(extra: dict[str, object]) -> int:
        doc = {
            "duration": "10m",
            "policy": str(POLICY),
            "roster": [{"id": "a", "skills": {"general": 1}, "capacity": {"chat": 8}, **extra}],
            "traffic": {
                "generated": [
                    {
                        "topic": "general.question",
                        "channel": "chat",
                        "per_hour": 360,  # about 60 chats in the ten minutes
                        "handle": {"constant": 3600},  # none ends inside the run
                    }
                ]
            },
        }
        scenario = parse_scenario(yaml.safe_load(yaml.safe_dump(doc)), tmp_path)
        tally = Replication(scenario, load_policy(POLICY).with_version(1), 3).run()
        assert len(tally.contacts) > 20
        # The run goes on until the queue drains; no chat ends in the first hour.
        return sum(1 for c in tally.contacts if c.answered is not None and c.answered < 3000)

    assert answered_at_once({}) == 8
    assert answered_at_once({"units": 100, "cost": {"chat": 20}}) == 5


def test_blended_capacity_in_a_scenario_is_validated(tmp_path: Path) -> None:
    doc = {
        "duration": "1h",
        "policy": str(POLICY),
        "roster": [
            {
                "id": "a",
                "capacity": {"voice": 1, "chat": 4},
                "units": 100,
                "cost": {"voice": 100, "chat": 20},
                "exclusive": ["voice"],
            }
        ],
        "traffic": {
            "generated": [
                {
                    "topic": "general.question",
                    "channel": "chat",
                    "per_hour": 1,
                    "handle": {"constant": 60},
                }
            ]
        },
    }
    agent = parse_scenario(doc, tmp_path).roster[0].agent
    assert (agent.units, agent.exclusive_channels) == (100, frozenset({Channel.VOICE}))
    assert agent.unit_costs == {Channel.VOICE: 100, Channel.CHAT: 20}
    doc["roster"][0]["cost"] = {"voice": 150}  # type: ignore[index]
    with pytest.raises(ScenarioError, match=re.escape("roster[0]")) as err:
        parse_scenario(doc, tmp_path)
    assert "150" in str(err.value)
    doc["roster"][0]["exclusive"] = ["fax"]  # type: ignore[index]
    with pytest.raises(ScenarioError, match=re.escape("roster[0].exclusive[0]")):
        parse_scenario(doc, tmp_path)
