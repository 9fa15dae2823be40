"""How evenly work spreads over agents, from what the database holds about them.

Nothing here names an agent in its output: the figures are by channel or by team,
so they can label metrics. The inputs are one `AgentWork` per agent on shift (not
offline) or assigned in the window; an agent on shift with no assignment counts as
a zero, which is what makes a team where a few take everything look unfair.

- occupancy: load over capacity of each available agent on each channel they work,
  as a distribution (how many agents are idle, half full, full), beside the
  aggregate `ChannelStaffing.occupancy`;
- spread of assignments over the window, per team: the Gini coefficient (0: all
  equal, towards 1: one agent takes everything) and the busiest agent's count over
  the team's median (a median under one assignment counts as one, so a team where
  most agents got nothing reads as the busiest agent's count, not as infinity);
- the longest busy stretch, per team: how long the agent longest at work without a
  pause (some slot holding work all along) has been so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from ticketrouter.domain.channels import Channel

# Occupancies a slot count can give (1/3, 2/5, ...) fall between these edges.
OCCUPANCY_BUCKETS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True, slots=True)
class AgentWork:
    """One agent as the fairness figures see them (the id only joins the two reads)."""

    agent_id: str
    team: str
    available: bool = False
    # channel -> (load, capacity), for the channels the agent works
    slots: Mapping[Channel, tuple[int, int]] = field(default_factory=dict)
    busy_since: datetime | None = None
    assignments: int = 0  # in the window

    @property
    def in_hand(self) -> bool:
        return any(load > 0 for load, _ in self.slots.values())


@dataclass(frozen=True, slots=True)
class OccupancyDistribution:
    """Available agents by occupancy on one channel: `counts[i]` agents at or below
    `OCCUPANCY_BUCKETS[i]` (cumulative, as a histogram's buckets), `total` of them."""

    counts: tuple[int, ...] = (0,) * len(OCCUPANCY_BUCKETS)
    total: int = 0
    occupancy_sum: float = 0.0


@dataclass(frozen=True, slots=True)
class TeamSpread:
    agents: int  # counted: on shift, or assigned in the window
    assignments: int
    gini: float
    busiest_to_median: float
    longest_busy_seconds: float


NO_SPREAD = TeamSpread(agents=0, assignments=0, gini=0, busiest_to_median=0, longest_busy_seconds=0)


@dataclass(frozen=True, slots=True)
class FairnessFigures:
    occupancy: Mapping[Channel, OccupancyDistribution]
    teams: Mapping[str, TeamSpread]


def gini(counts: Sequence[int]) -> float:
    """0 when everyone has the same (or nobody has anything), (n-1)/n when one has all."""
    total = sum(counts)
    if not counts or total == 0:
        return 0.0
    ordered = sorted(counts)
    n = len(ordered)
    weighted = sum((2 * rank - n - 1) * value for rank, value in enumerate(ordered, start=1))
    return weighted / (n * total)


def busiest_to_median(counts: Sequence[int]) -> float:
    if not counts:
        return 0.0
    return max(counts) / max(float(median(counts)), 1.0)


def occupancy_distribution(ratios: Iterable[float]) -> OccupancyDistribution:
    values = list(ratios)
    counts = tuple(sum(1 for v in values if v <= edge) for edge in OCCUPANCY_BUCKETS)
    return OccupancyDistribution(counts, len(values), sum(values))


def fairness_figures(
    agents: Iterable[AgentWork], now: datetime, team_label: Callable[[str], str] = str
) -> FairnessFigures:
    """The figures by channel and by team. `team_label`: the team an agent counts
    under (teams outside the configured closed set share one, as in the metrics)."""
    ratios: dict[Channel, list[float]] = {}
    counts: dict[str, list[int]] = {}
    busiest: dict[str, float] = {}
    for agent in agents:
        team = team_label(agent.team)
        counts.setdefault(team, []).append(agent.assignments)
        if agent.available:
            for channel, (load, capacity) in agent.slots.items():
                if capacity > 0:
                    ratios.setdefault(channel, []).append(min(1.0, load / capacity))
        # Only an agent with work in hand now is busy, whatever the column says.
        if agent.in_hand and agent.busy_since is not None:
            stretch = max(0.0, (now - agent.busy_since).total_seconds())
            busiest[team] = max(busiest.get(team, 0.0), stretch)
    return FairnessFigures(
        occupancy={c: occupancy_distribution(r) for c, r in ratios.items()},
        teams={
            team: TeamSpread(
                agents=len(team_counts),
                assignments=sum(team_counts),
                gini=gini(team_counts),
                busiest_to_median=busiest_to_median(team_counts),
                longest_busy_seconds=busiest.get(team, 0.0),
            )
            for team, team_counts in counts.items()
        },
    )
