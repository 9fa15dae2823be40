"""What a simulation reports: the figures of one group of contacts, per interval, per
queue (routing rule) and channel, occupancy per team, and the current policy beside a
draft. `SimulationResult.to_json()` is what `ticketrouter simulate --json` prints:

```json
{
  "offered": 4200, "answered": 4100, "abandoned": 100, "abandonment_rate": 0.0238,
  "asa_seconds": 14.2, "wait_p50_seconds": 0.0, "wait_p90_seconds": 41.0,
  "wait_p99_seconds": 160.3, "service_level": 0.81, "service_level_seconds": 20,
  "p_wait": 0.34, "occupancy": 0.86, "handoffs_per_case": 0.05, "fcr_rate": 0.71,
  "unroutable": 0,
  "intervals": [{"start": "2026-12-01T08:00:00+00:00", "offered": 100, ...,
                 "occupancy_by_team": {"support": 0.84}}],
  "by_rule": {"default": {"offered": 4200, ...}},
  "by_channel": {"voice": {"offered": 4200, ...}},
  "occupancy_by_team": {"support": 0.86},
  "replications": 10, "seed": 42, "ci95": {"asa_seconds": 1.3, ...},
  "draft": {... the same keys, for --policy ...},
  "difference": {"asa_seconds": -3.1, ... draft less current ...}
}
```

Definitions (each the usual contact-center one, and Erlang C's where it has one):
- `offered`: contacts that arrived in the group; `answered`: those an agent took (their
  wait ended by an assignment, or by accepting an offer); `abandoned`: those whose
  customer gave up first. Contacts still waiting when the run ends are neither.
- `asa_seconds`: mean wait of the answered contacts, zeros included.
- `wait_pNN_seconds`: percentiles of the same waits.
- `service_level`: answered within `service_level_seconds`, over offered (abandoned
  and never-answered contacts count against it), Erlang C's P(wait ≤ T).
- `p_wait`: the share of offered contacts that could not be answered at once.
- `occupancy`: time agents spent holding at least one live contact, over the time they
  were online (with one voice slot each: Erlang C's λ·AHT / c); a wrap-up counts as
  busy. Per interval it is the busy and online time inside the interval (and
  `occupancy_by_team` there, each team's, teams online in it); per rule and channel
  it is the agent time spent on that group's contacts over the whole roster's online
  time.
- `handoffs_per_case`: handoffs over cases; `fcr_rate`: first-contact resolved cases
  over resolutions (a reopened case resolves again), after the repeat contacts the
  run saw revoked their credit.
  A case counts in the group (interval, rule, channel) of the contact opening it.
- `unroutable`: cases no agent on the roster could ever take (no agent, on any shift,
  works the channel and holds the skills, authority, language and team the rule asks
  for, even after its last step; presence and load aside). They still count as
  offered, and against the service level.

With replications, every figure is the mean of the replications' figures and `ci95`
gives the half-width of its 95% confidence interval (Student's t).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime

# Two-sided 97.5% quantiles of Student's t by degrees of freedom (then the normal's).
_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    20: 2.086,
    25: 2.060,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
}


def t975(degrees: int) -> float:
    """Student's t quantile for a two-sided 95% interval (conservative between rows)."""
    if degrees <= 0:
        return math.inf
    below = [d for d in _T975 if d <= degrees]
    return _T975[max(below)] if degrees <= 120 else 1.960


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of one group of contacts (see the module docstring)."""

    offered: float = 0
    answered: float = 0
    abandoned: float = 0
    abandonment_rate: float = 0.0
    asa_seconds: float = 0.0
    wait_p50_seconds: float = 0.0
    wait_p90_seconds: float = 0.0
    wait_p99_seconds: float = 0.0
    service_level: float = 0.0
    service_level_seconds: float = 20.0
    p_wait: float = 0.0
    occupancy: float = 0.0
    handoffs_per_case: float = 0.0
    fcr_rate: float = 0.0
    unroutable: float = 0

    def to_json(self) -> dict[str, float]:
        return {k: _rounded(v) for k, v in asdict(self).items()}


FIGURE_NAMES = tuple(f.name for f in fields(Figures))


@dataclass(frozen=True, slots=True)
class IntervalFigures:
    start: datetime
    figures: Figures
    occupancy_by_team: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            **self.figures.to_json(),
            "occupancy_by_team": {
                k: _rounded(v) for k, v in sorted(self.occupancy_by_team.items())
            },
        }


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """One policy's outcome (the mean of its replications)."""

    total: Figures
    intervals: tuple[IntervalFigures, ...] = ()
    by_rule: Mapping[str, Figures] = field(default_factory=dict)
    by_channel: Mapping[str, Figures] = field(default_factory=dict)
    occupancy_by_team: Mapping[str, float] = field(default_factory=dict)
    replications: int = 1
    seed: int = 0
    ci95: Mapping[str, float] = field(default_factory=dict)  # half-widths of total's figures
    policy: str = ""  # the policy file it ran
    draft: SimulationResult | None = None  # --policy: the draft's outcome

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            **self.total.to_json(),
            "intervals": [i.to_json() for i in self.intervals],
            "by_rule": {k: v.to_json() for k, v in sorted(self.by_rule.items())},
            "by_channel": {k: v.to_json() for k, v in sorted(self.by_channel.items())},
            "occupancy_by_team": {
                k: _rounded(v) for k, v in sorted(self.occupancy_by_team.items())
            },
            "replications": self.replications,
            "seed": self.seed,
            "ci95": {k: _rounded(v) for k, v in self.ci95.items()},
            "policy": self.policy,
        }
        if self.draft is not None:
            out["draft"] = self.draft.to_json()
            out["difference"] = difference(self.total, self.draft.total)
        return out


def difference(current: Figures, draft: Figures) -> dict[str, float]:
    """Draft less current, figure by figure."""
    return {
        name: _rounded(getattr(draft, name) - getattr(current, name))
        for name in FIGURE_NAMES
        if name != "service_level_seconds"
    }


def mean_figures(runs: Sequence[Figures]) -> Figures:
    """Figure by figure, the mean over replications."""
    if not runs:
        return Figures()
    return Figures(**{n: statistics.fmean(getattr(r, n) for r in runs) for n in FIGURE_NAMES})


def half_widths(runs: Sequence[Figures]) -> dict[str, float]:
    """The 95% confidence half-width of each figure's mean over replications."""
    if len(runs) < 2:
        return {}
    t = t975(len(runs) - 1)
    return {
        n: t * statistics.stdev(getattr(r, n) for r in runs) / math.sqrt(len(runs))
        for n in FIGURE_NAMES
        if n != "service_level_seconds"
    }


def mean_mapping(runs: Sequence[Mapping[str, Figures]]) -> dict[str, Figures]:
    """Groups present in any replication, each averaged over all of them (a group a
    replication never saw counts as zeros there)."""
    keys = sorted({k for run in runs for k in run})
    return {k: mean_figures([run.get(k, Figures()) for run in runs]) for k in keys}


def _rounded(value: float) -> float:
    if isinstance(value, int):
        return value
    return round(value, 6)
