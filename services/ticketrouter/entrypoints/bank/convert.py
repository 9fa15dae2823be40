"""`ticketrouter simulate import-bank CSV [-o SCENARIO.yaml]`: the bank month as a
scenario of the simulation, so its historical staffing can be simulated.

It writes four files side by side (paths in the scenario are relative to it):
- SCENARIO.yaml: the month (interval 30 minutes, service level at 60 s), the roster
  read from what each agent served (see staffing), one replication;
- SCENARIO.traffic.jsonl: each call that asked for an agent, as recorded, a
  `contact.received` event at the moment it joined the queue (or was picked up
  straight from the VRU), with its own `handle_seconds` (its service time; an
  abandoned call, never served, draws one from its type's served calls) and
  `patience_seconds` (a draw from its type's Kaplan-Meier patience, see patience:
  not its own outcome, so the simulation predicts who hangs up instead of replaying
  it). Identified customers keep their id (a repeat call joins or reopens their
  case, as in production); an unidentified caller is a customer of one call;
- SCENARIO.policy.yaml: a rule per service type and priority class (queues);
- SCENARIO.draft-nw-overflow.yaml: the same, but a new-customer (NW) call waiting
  30 s may go to agents who take NW only occasionally (a proficiency step of -2).
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ticketrouter.entrypoints.bank.calls import BankCall, Outcome
from ticketrouter.entrypoints.bank.patience import PatienceCurve, kaplan_meier
from ticketrouter.entrypoints.bank.queues import (
    PRIORITY_CLASSES,
    rule_name,
    services_in_order,
    topic_of,
)
from ticketrouter.entrypoints.bank.staffing import OCCASIONAL, TRAINED, BankAgent, skill_of

LANGUAGE = "he"
SERVICE_LEVEL_SECONDS = 60
OVERFLOW_SERVICE = "NW"
OVERFLOW_AFTER_SECONDS = 30
_EVENT_NAMESPACE = uuid.UUID("5d3f8e2a-1c4b-4f6e-9a7d-0b2c4e6f8a1d")


def bank_month(calls: Sequence[BankCall]) -> tuple[datetime, datetime]:
    """From the first day's midnight to the midnight after the last arrival (a call
    that entered the VRU before the last midnight may queue after it)."""
    first = min(c.vru_entry for c in calls)
    last = max(c.arrived_at for c in calls)
    start = datetime(first.year, first.month, first.day)
    return start, datetime(last.year, last.month, last.day) + timedelta(days=1)


def patience_by_service(calls: Sequence[BankCall]) -> dict[str, PatienceCurve]:
    records: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for call in calls:
        if call.asked_for_agent:
            records[call.service].append((call.wait_seconds, call.outcome is Outcome.HANG))
    return {service: kaplan_meier(r) for service, r in records.items()}


def write_scenario(
    calls: Sequence[BankCall], agents: Sequence[BankAgent], output: Path, seed: int
) -> list[Path]:
    """The four files; returns their paths, the scenario first."""
    start, end = bank_month(calls)
    stem = output.name.removesuffix(".yaml")
    traffic = output.with_name(f"{stem}.traffic.jsonl")
    policy = output.with_name(f"{stem}.policy.yaml")
    draft = output.with_name(f"{stem}.draft-nw-overflow.yaml")
    offered = sorted((c for c in calls if c.asked_for_agent), key=lambda c: c.arrived_at)
    services = services_in_order({c.service for c in offered})
    classes = sorted({(c.service, c.priority) for c in offered})
    _write_traffic(offered, traffic, random.Random(seed))
    policy.write_text(_policy_yaml(services, classes, overflow=False), encoding="utf-8")
    draft.write_text(_policy_yaml(services, classes, overflow=True), encoding="utf-8")
    scenario = {
        "name": "anonymous-bank-1999-08",
        "start": _iso(start),
        "duration": f"{(end - start).days}d",
        "interval": "30m",
        "service_level_seconds": SERVICE_LEVEL_SECONDS,
        "fcr_window": "7d",
        "replications": 1,
        "seed": seed,
        "policy": policy.name,
        "roster": [_roster_entry(agent) for agent in agents],
        "traffic": {"file": traffic.name},
    }
    header = (
        "# The Anonymous Bank's month (Technion SEE lab), converted by\n"
        "# `ticketrouter simulate import-bank`; times are the bank's local clock.\n"
    )
    output.write_text(header + yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    return [output, traffic, policy, draft]


def _write_traffic(offered: Sequence[BankCall], path: Path, rng: random.Random) -> None:
    curves = patience_by_service(offered)
    served: dict[str, list[float]] = defaultdict(list)
    for call in offered:
        if call.outcome is Outcome.AGENT:
            served[call.service].append(call.service_seconds)
    with path.open("w", encoding="utf-8") as out:
        for call in offered:
            handle = call.service_seconds
            if call.outcome is not Outcome.AGENT:
                handle = rng.choice(served[call.service]) if served[call.service] else 0.0
            out.write(json.dumps(_event(call, handle, curves[call.service].draw(rng))) + "\n")


def _event(call: BankCall, handle: float, patience: float) -> dict[str, Any]:
    customer = call.customer_id if call.customer_id != "0" else f"call-{call.key}"
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid5(_EVENT_NAMESPACE, call.key)),
        "type": "contact.received",
        "occurred_at": _iso(call.arrived_at),
        "channel": "voice",
        "identities": [{"kind": "account", "value": customer}],
        "topic": topic_of(call.service),
        "language": LANGUAGE,
        "attributes": {
            "customer_class": PRIORITY_CLASSES.get(call.priority, "unidentified"),
            "call": call.key,
        },
        "handle_seconds": handle,
    }
    # A type nobody hung up on has no end to its patience: the event says none (the
    # scenario sets no default, so its caller waits), where `Infinity` is not JSON.
    if math.isfinite(patience):
        event["patience_seconds"] = round(patience, 1)
    return event


def _policy_yaml(
    services: Sequence[str], classes: Sequence[tuple[str, int]], overflow: bool
) -> str:
    rules: list[dict[str, Any]] = []
    for service in services:
        for svc, priority in classes:
            if svc != service:
                continue
            rule: dict[str, Any] = {
                "name": rule_name(service, priority),
                "when": f'contact.topic == "{topic_of(service)}" && '
                f'contact.attributes.customer_class == "{PRIORITY_CLASSES.get(priority)}"',
                "skills": {skill_of(service): TRAINED},
                "language": "any",
                "priority": priority,
                # The bank's switch had no memory of the last agent.
                "prefer_relationship": False,
            }
            if overflow and service == OVERFLOW_SERVICE:
                rule["steps"] = [
                    {"after_seconds": OVERFLOW_AFTER_SECONDS, "proficiency": OCCASIONAL - TRAINED}
                ]
            rules.append(rule)
    rules.append(
        {
            "name": "other",
            "description": "no bank call comes here: every service type has its rules",
            "skills": {skill_of(services[0]): TRAINED},
            "language": "any",
        }
    )
    document = {"skills": [skill_of(s) for s in services], "rules": rules}
    what = "draft: NW overflows to occasional NW agents after 30 s" if overflow else "current"
    return f"# The bank's queues ({what}).\n" + yaml.safe_dump(document, sort_keys=False)


def _roster_entry(agent: BankAgent) -> dict[str, Any]:
    return {
        "id": agent.name.lower(),
        "team": agent.team,
        "skills": agent.skills,
        "languages": [LANGUAGE],
        "capacity": {"voice": 1},
        "shifts": [{"start": _iso(a), "end": _iso(b)} for a, b in agent.shifts],
    }


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
