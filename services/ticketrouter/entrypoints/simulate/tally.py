"""What happened to each contact and each agent during one run, and the figures of it
(the definitions are results.py's)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ticketrouter.entrypoints.simulate.results import Figures


@dataclass(slots=True)
class ContactRecord:
    event_id: str
    arrived: float  # seconds since the start
    channel: str
    rule: str = ""
    case_id: str = ""
    answered: float | None = None
    abandoned: float | None = None
    waited_at_once: bool = False  # answered the moment it arrived
    # Of the contact that opened its case (the case's figures go to its group):
    opened_case: bool = False
    unroutable: bool = False  # no agent on the roster could ever take the case
    handoffs: int = 0
    resolutions: int = 0  # a reopened case resolves again
    first_contact: bool = False  # resolved first time, and no repeat took it back


@dataclass(slots=True)
class Tally:
    start_seconds: float
    interval_seconds: float
    intervals: int
    service_level_seconds: float
    contacts: list[ContactRecord] = field(default_factory=list)
    # agent time, by team: online and busy seconds per interval
    online: dict[str, list[float]] = field(default_factory=dict)
    busy: dict[str, list[float]] = field(default_factory=dict)
    busy_by_rule: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    busy_by_channel: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add_time(
        self, table: dict[str, list[float]], team: str, since: float, until: float
    ) -> None:
        """Spread [since, until) over the report intervals it crosses."""
        bins = table.setdefault(team, [0.0] * self.intervals)
        width = self.interval_seconds
        since, until = max(since, 0.0), min(until, width * self.intervals)
        while since < until:
            k = int(since // width)
            edge = min(until, (k + 1) * width)
            bins[k] += edge - since
            since = edge

    def figures(self, contacts: Iterable[ContactRecord], busy: float, online: float) -> Figures:
        group = list(contacts)
        answered = [c for c in group if c.answered is not None]
        waits = sorted(c.answered - c.arrived for c in answered if c.answered is not None)
        offered = len(group)
        abandoned = sum(1 for c in group if c.abandoned is not None)
        within = sum(1 for w in waits if w <= self.service_level_seconds)
        at_once = sum(1 for c in group if c.waited_at_once)
        cases = [c for c in group if c.opened_case]
        resolved = sum(c.resolutions for c in cases)
        return Figures(
            offered=offered,
            answered=len(answered),
            abandoned=abandoned,
            abandonment_rate=abandoned / offered if offered else 0.0,
            asa_seconds=sum(waits) / len(waits) if waits else 0.0,
            wait_p50_seconds=_percentile(waits, 0.50),
            wait_p90_seconds=_percentile(waits, 0.90),
            wait_p99_seconds=_percentile(waits, 0.99),
            service_level=within / offered if offered else 0.0,
            service_level_seconds=self.service_level_seconds,
            p_wait=1.0 - at_once / offered if offered else 0.0,
            occupancy=busy / online if online else 0.0,
            handoffs_per_case=sum(c.handoffs for c in cases) / len(cases) if cases else 0.0,
            fcr_rate=sum(1 for c in cases if c.first_contact) / resolved if resolved else 0.0,
            unroutable=sum(1 for c in cases if c.unroutable),
        )

    def total(self) -> Figures:
        busy = sum(sum(b) for b in self.busy.values())
        online = sum(sum(o) for o in self.online.values())
        return self.figures(self.contacts, busy, online)

    def per_interval(self) -> list[tuple[int, Figures]]:
        by_interval: dict[int, list[ContactRecord]] = defaultdict(list)
        for c in self.contacts:
            by_interval[min(int(c.arrived // self.interval_seconds), self.intervals - 1)].append(c)
        return [
            (
                k,
                self.figures(
                    by_interval.get(k, []),
                    sum(b[k] for b in self.busy.values()),
                    sum(o[k] for o in self.online.values()),
                ),
            )
            for k in range(self.intervals)
        ]

    def by(self, key: str) -> dict[str, Figures]:
        """Per rule (`key` "rule") or channel ("channel"); occupancy there is the agent
        time spent on the group over the whole roster's online time."""
        online = sum(sum(o) for o in self.online.values())
        groups: dict[str, list[ContactRecord]] = defaultdict(list)
        for c in self.contacts:
            groups[getattr(c, key)].append(c)
        spent = self.busy_by_rule if key == "rule" else self.busy_by_channel
        return {k: self.figures(v, spent.get(k, 0.0), online) for k, v in groups.items()}

    def occupancy_by_team_per_interval(self) -> list[dict[str, float]]:
        """Each interval's busy time of each team over its online time there (a team
        offline for the whole interval is left out of it)."""
        return [
            {
                team: self.busy.get(team, [0.0] * self.intervals)[k] / online[k]
                for team, online in sorted(self.online.items())
                if online[k] > 0
            }
            for k in range(self.intervals)
        ]

    def occupancy_by_team(self) -> dict[str, float]:
        return {
            team: sum(self.busy.get(team, [])) / sum(o) if sum(o) else 0.0
            for team, o in self.online.items()
        }


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values (0 for none)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]
