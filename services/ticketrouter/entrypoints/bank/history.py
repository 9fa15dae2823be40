"""What happened at the bank, in the shape a simulation reports (`SimulationResult`),
so that the two print side by side with the same definitions (see simulate.results).

Which calls count: a call is *offered* when it asked for an agent, that is, it
reached the agents' queue or was served straight from the VRU. A hang-up in the VRU
with no queue time left the self-service menu without asking for anyone, and a
PHANTOM is, in the data's documentation, a virtual call to be ignored; neither is in
any figure here, nor in the converted traffic. Historical records have no handoffs
and no first-contact verdict, so those figures stay 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ticketrouter.entrypoints.bank.calls import BankCall, Outcome
from ticketrouter.entrypoints.bank.queues import rule_name, service_of_rule
from ticketrouter.entrypoints.bank.staffing import BankAgent
from ticketrouter.entrypoints.simulate.results import Figures, IntervalFigures, SimulationResult

# What the file cannot tell: nobody recorded transfers or first-contact verdicts.
HISTORY_LACKS = frozenset({"handoffs_per_case", "fcr_rate"})


@dataclass(slots=True)
class _Group:
    """The calls of one group (interval, rule, team), gathered before any figure."""

    waits: list[float] = field(default_factory=list)  # answered calls' waits
    abandoned: int = 0
    waited: int = 0  # offered calls not answered at once
    busy_seconds: float = 0.0

    def add(self, call: BankCall) -> None:
        if call.outcome is Outcome.AGENT:
            self.waits.append(call.wait_seconds)
        else:
            self.abandoned += 1
        if call.wait_seconds > 0:
            self.waited += 1

    def figures(self, online_seconds: float, threshold: float) -> Figures:
        answered = len(self.waits)
        offered = answered + self.abandoned
        waits = sorted(self.waits)
        return Figures(
            offered=offered,
            answered=answered,
            abandoned=self.abandoned,
            abandonment_rate=_share(self.abandoned, offered),
            asa_seconds=_share(sum(waits), answered),
            wait_p50_seconds=percentile(waits, 0.50),
            wait_p90_seconds=percentile(waits, 0.90),
            wait_p99_seconds=percentile(waits, 0.99),
            service_level=_share(sum(1 for w in waits if w <= threshold), offered),
            service_level_seconds=threshold,
            p_wait=_share(self.waited, offered),
            occupancy=_share(self.busy_seconds, online_seconds),
        )


def historical_result(
    calls: Iterable[BankCall],
    agents: Sequence[BankAgent],
    start: datetime,
    end: datetime,
    interval: timedelta,
    service_level_seconds: float,
) -> SimulationResult:
    offered = [c for c in calls if c.asked_for_agent and start <= c.arrived_at < end]
    teams = {agent.name: agent.team for agent in agents}
    total = _Group()
    rules: dict[str, _Group] = defaultdict(_Group)
    slots: dict[int, _Group] = defaultdict(_Group)
    team_busy: dict[str, float] = defaultdict(float)
    for call in offered:
        total.add(call)
        rules[rule_name(call.service, call.priority)].add(call)
        slots[_slot(call.arrived_at, start, interval)].add(call)
        if call.outcome is Outcome.AGENT and call.server in teams:
            total.busy_seconds += call.service_seconds
            rules[rule_name(call.service, call.priority)].busy_seconds += call.service_seconds
            team_busy[teams[call.server]] += call.service_seconds
            _spread_busy(call, start, interval, slots)
    online = sum(agent.online_seconds(start, end) for agent in agents)
    threshold = service_level_seconds
    intervals = []
    count = math.ceil((end - start) / interval)
    for k in range(count):
        since = start + k * interval
        until = min(end, since + interval)
        group_online = sum(agent.online_seconds(since, until) for agent in agents)
        intervals.append(
            IntervalFigures(since, slots.get(k, _Group()).figures(group_online, threshold))
        )
    team_online: dict[str, float] = defaultdict(float)
    for agent in agents:
        team_online[agent.team] += agent.online_seconds(start, end)
    return SimulationResult(
        total=total.figures(online, threshold),
        intervals=tuple(intervals),
        by_rule={name: group.figures(online, threshold) for name, group in rules.items()},
        by_channel={"voice": total.figures(online, threshold)},
        occupancy_by_team={
            team: _share(team_busy[team], seconds) for team, seconds in team_online.items()
        },
        policy="history",
    )


def by_service(by_rule: Mapping[str, Figures]) -> dict[str, Figures]:
    """Rules' figures added up per service type: counts add, ASA weighs by answered,
    service level, P(wait) and occupancy by offered (occupancy by rule is already a
    share of the whole roster's time, so those add). Percentiles do not add up and
    are left out (0)."""
    grouped: dict[str, list[Figures]] = defaultdict(list)
    for rule, figures in by_rule.items():
        grouped[service_of_rule(rule)].append(figures)
    return {service: _added(parts) for service, parts in grouped.items()}


def _added(parts: Sequence[Figures]) -> Figures:
    offered = sum(p.offered for p in parts)
    answered = sum(p.answered for p in parts)
    abandoned = sum(p.abandoned for p in parts)
    return Figures(
        offered=offered,
        answered=answered,
        abandoned=abandoned,
        abandonment_rate=_share(abandoned, offered),
        asa_seconds=_share(sum(p.asa_seconds * p.answered for p in parts), answered),
        service_level=_share(sum(p.service_level * p.offered for p in parts), offered),
        service_level_seconds=parts[0].service_level_seconds if parts else 0.0,
        p_wait=_share(sum(p.p_wait * p.offered for p in parts), offered),
        occupancy=sum(p.occupancy for p in parts),
        unroutable=sum(p.unroutable for p in parts),
    )


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolated between the nearest ranks."""
    if not ordered:
        return 0.0
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _slot(moment: datetime, start: datetime, interval: timedelta) -> int:
    return int((moment - start) / interval)


def _spread_busy(
    call: BankCall, start: datetime, interval: timedelta, slots: dict[int, _Group]
) -> None:
    """A call's service time into the intervals it covers (a long call spans several)."""
    assert call.served_at is not None
    begin, end = call.served_at, call.served_at + timedelta(seconds=call.service_seconds)
    k = _slot(begin, start, interval)
    while begin < end:
        boundary = start + (k + 1) * interval
        slots[k].busy_seconds += (min(end, boundary) - begin).total_seconds()
        begin, k = boundary, k + 1


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0
