"""The scenario format: what a person writes is what the simulation runs, and a
mistake is named by its field."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
import yaml

from ticketrouter.domain.channels import Channel
from ticketrouter.entrypoints.simulate.scenario import (
    Distribution,
    ScenarioError,
    Shift,
    load_scenario,
    parse_scenario,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "simulate" / "voice-center.yaml"


def test_the_shipped_example_loads() -> None:
    scenario = load_scenario(EXAMPLE)
    assert len(scenario.roster) == 14
    assert scenario.roster[0].agent.agent_id == "voice-01"
    assert scenario.roster[0].agent.capacity == {Channel.VOICE: 1}
    (stream,) = scenario.traffic.generated
    assert stream.expected_per_interval(scenario.interval) == (100.0,)
    assert stream.handle == Distribution("exponential", (180.0,))
    assert scenario.duration == timedelta(hours=8)
    assert scenario.policy_file.name == "one-skill-policy.yaml"


def _doc(**changes: object) -> dict[str, object]:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc.update(changes)
    return doc


def test_a_per_hour_rate_is_spread_over_the_interval() -> None:
    stream = {"topic": "t", "channel": "chat", "per_hour": 60, "handle": 30}
    scenario = parse_scenario(_doc(traffic={"generated": [stream]}), EXAMPLE.parent)
    assert scenario.traffic.generated[0].expected_per_interval(timedelta(minutes=15)) == (15.0,)
    assert scenario.traffic.generated[0].handle == Distribution("constant", (30.0,))


def test_shifts_absolute_and_daily() -> None:
    roster = [
        {
            "id": "ana",
            "capacity": {"chat": 3},
            "shifts": [
                {"daily": "22:00-06:00"},
                {"start": "2026-12-01T12:00:00Z", "end": "2026-12-01T13:00:00Z"},
            ],
        }
    ]
    scenario = parse_scenario(_doc(roster=roster), EXAMPLE.parent)
    night, lunch = scenario.roster[0].shifts
    assert night == Shift(daily=(time(22), time(6)))
    day = datetime(2026, 12, 1, tzinfo=UTC)
    assert night.spans(day, day + timedelta(days=1)) == [
        (day, day + timedelta(hours=6)),
        (day + timedelta(hours=22), day + timedelta(days=1)),
    ]
    assert lunch.spans(day, day + timedelta(hours=12, minutes=30)) == [
        (day + timedelta(hours=12), day + timedelta(hours=12, minutes=30))
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"duration": "soon"}, "duration"),
        ({"interval": "10s"}, "interval"),
        ({"replications": 0}, "replications"),
        ({"policy": "missing.yaml"}, "policy"),
        ({"colour": "blue"}, "scenario"),
        ({"roster": [{"id": "a", "capacity": {"fax": 1}}]}, "roster[0].capacity.fax"),
        ({"roster": [{"id": "a", "skills": {"general": 9}}]}, "roster[0].skills.general"),
        ({"roster": [{"id": "a", "shifts": [{"daily": "9-5"}]}]}, "roster[0].shifts[0].daily"),
        ({"roster": [{"id": "a"}, {"id": "a"}]}, "roster"),
        ({"traffic": {}}, "traffic"),
        (
            {"traffic": {"generated": [{"topic": "t", "channel": "voice", "handle": 1}]}},
            "traffic.generated[0]",
        ),
        (
            {
                "traffic": {
                    "generated": [
                        {"topic": "t", "channel": "voice", "per_hour": 5, "handle": {"gamma": 1}}
                    ]
                }
            },
            "traffic.generated[0].handle",
        ),
        ({"behaviour": {"accept": 0.5, "decline": 0.1}}, "behaviour"),
        ({"behaviour": {"transfer": {"default": 2}}}, "behaviour.transfer.default"),
    ],
)
def test_a_mistake_names_its_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        parse_scenario(_doc(**changes), EXAMPLE.parent)
    assert raised.value.field == field, str(raised.value)
