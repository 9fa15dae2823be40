"""Callers who give up and calls that end go through the router's own handlers
(contact.abandoned, contact.ended): an abandoned call is never given to an agent, and
an ended call frees the agent for the next one."""

from __future__ import annotations

from pathlib import Path

import yaml

from ticketrouter.adapters.rules_file import load_policy
from ticketrouter.domain.cases import CaseStatus
from ticketrouter.entrypoints.simulate.engine import Replication
from ticketrouter.entrypoints.simulate.scenario import parse_scenario

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
