"""Erlang C: the M/M/c queue of a contact center with Poisson arrivals, exponential
handle times, c identical agents and callers who never give up.

Written here rather than taken from a library: pyworkforce (the maintained one) needs
ortools, numpy, pandas and joblib (about 60 MB of wheels) and its ortools requires a
protobuf older than the one gRPC runs on here, for four formulas of a few lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_AGENTS = 100_000


@dataclass(frozen=True, slots=True)
class Staffing:
    agents: int
    p_wait: float  # probability that a call waits at all
    asa_seconds: float  # mean wait over all calls
    service_level: float  # share answered within the threshold
    occupancy: float  # share of agent time spent handling


def offered_load(calls: float, interval_seconds: float, aht_seconds: float) -> float:
    """Traffic intensity in Erlangs: arrival rate times average handle time."""
    return calls / interval_seconds * aht_seconds


def p_wait(agents: int, load: float) -> float:
    """Erlang C, through Erlang B's recursion (stable for thousands of agents)."""
    if agents <= load:
        return 1.0
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = load * blocking / (k + load * blocking)
    return agents * blocking / (agents - load * (1.0 - blocking))


def staffing_at(
    agents: int, calls: float, interval_seconds: float, aht_seconds: float, target_seconds: float
) -> Staffing:
    load = offered_load(calls, interval_seconds, aht_seconds)
    waits = p_wait(agents, load)
    if agents <= load:  # the queue grows without end
        return Staffing(agents, 1.0, math.inf, 0.0, 1.0)
    drain = (agents - load) / aht_seconds
    return Staffing(
        agents=agents,
        p_wait=waits,
        asa_seconds=waits / drain,
        service_level=1.0 - waits * math.exp(-drain * target_seconds),
        occupancy=load / agents,
    )


def fewest_agents(
    calls: float,
    interval_seconds: float,
    aht_seconds: float,
    target_share: float,
    target_seconds: float,
) -> Staffing:
    """The fewest agents whose service level meets `target_share` within `target_seconds`."""
    if calls <= 0:
        return staffing_at(0, 0.0, interval_seconds, aht_seconds, target_seconds)
    load = offered_load(calls, interval_seconds, aht_seconds)
    for agents in range(max(1, math.floor(load) + 1), MAX_AGENTS + 1):
        found = staffing_at(agents, calls, interval_seconds, aht_seconds, target_seconds)
        if found.service_level >= target_share:
            return found
    raise ValueError(f"no staffing up to {MAX_AGENTS} agents meets the target")
