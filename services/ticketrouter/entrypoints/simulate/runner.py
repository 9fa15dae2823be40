"""Replications of a scenario under a policy, and their means: the SimulationResult."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ticketrouter.adapters.rules_file import load_policy
from ticketrouter.entrypoints.simulate.engine import Replication
from ticketrouter.entrypoints.simulate.results import (
    Figures,
    IntervalFigures,
    SimulationResult,
    half_widths,
    mean_figures,
    mean_mapping,
)
from ticketrouter.entrypoints.simulate.scenario import Scenario
from ticketrouter.entrypoints.simulate.tally import Tally

# Told the share done of the whole run (all replications, and the draft's).
Progress = Callable[[float], None]


def simulate(
    scenario: Scenario,
    draft: Path | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> SimulationResult:
    """The scenario's policy, and with `draft` the draft beside it on the same seeds
    (common random numbers: the same arrivals, so differences are the policy's)."""
    base = scenario.seed if seed is None else seed
    runs = 2 if draft else 1
    current = run_policy(scenario, scenario.policy_file, base, _part(progress, 0, runs))
    if draft is None:
        return current
    proposed = run_policy(scenario, draft, base, _part(progress, 1, runs))
    return replace(current, draft=proposed)


def run_policy(
    scenario: Scenario, policy_file: Path, seed: int, progress: Progress | None = None
) -> SimulationResult:
    policy = load_policy(policy_file).with_version(1)
    tallies: list[Tally] = []
    for r in range(scenario.replications):
        step = _part(progress, r, scenario.replications)
        tallies.append(Replication(scenario, policy, seed + r).run(step))
    totals = [t.total() for t in tallies]
    starts = [scenario.start + k * scenario.interval for k in range(tallies[0].intervals)]
    per_interval = [dict(t.per_interval()) for t in tallies]
    team_intervals = [t.occupancy_by_team_per_interval() for t in tallies]
    intervals = tuple(
        IntervalFigures(
            start,
            mean_figures([p.get(k, Figures()) for p in per_interval]),
            _mean_by_team([by_team[k] for by_team in team_intervals]),
        )
        for k, start in enumerate(starts)
    )
    teams = sorted({team for t in tallies for team in t.online})
    occupancy = {
        team: sum(t.occupancy_by_team().get(team, 0.0) for t in tallies) / len(tallies)
        for team in teams
    }
    if progress is not None:
        progress(1.0)
    return SimulationResult(
        total=mean_figures(totals),
        intervals=intervals,
        by_rule=mean_mapping([t.by("rule") for t in tallies]),
        by_channel=mean_mapping([t.by("channel") for t in tallies]),
        occupancy_by_team=occupancy,
        replications=scenario.replications,
        seed=seed,
        ci95=half_widths(totals),
        policy=str(policy_file),
    )


def _mean_by_team(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each team's mean over the replications that had it online."""
    teams = sorted({team for run in runs for team in run})
    return {team: statistics.fmean(run[team] for run in runs if team in run) for team in teams}


def _part(progress: Progress | None, index: int, parts: int) -> Progress | None:
    if progress is None:
        return None
    return lambda share: progress((index + share) / parts)


__all__ = ["run_policy", "simulate"]
