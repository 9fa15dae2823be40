"""Outcome figures computed from the record, to check what Prometheus shows.

Definitions (the same as the metrics):
- a resolution counts once each time a case is resolved (a reopened case can
  resolve again);
- first-contact resolved: resolved within its first contact with zero handoffs,
  and not revoked since by a repeat contact inside the FCR window; provisional
  until that window closes;
- matured: a resolution whose FCR window has closed, counted at that moment; its
  first-contact outcome is final. The matured FCR rate is the share of matured
  resolutions that were first-contact resolved: always within [0, 1], since both
  figures count the same resolutions at the same moment;
- handoff rate: the share of resolutions whose case had at least one handoff;
- handoffs per case: handoffs of the resolved cases divided by resolutions;
- CSAT: the answers counted in the window less those replaced in it (see
  domain.surveys), overall, by first channel, by handoffs, and for first-contact
  resolved cases beside cases with one or more handoffs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.cases import Case
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.surveys import CsatReport


@dataclass(frozen=True, slots=True)
class ResolutionReport:
    resolved: int = 0
    first_contact: int = 0
    with_handoff: int = 0
    handoffs: int = 0
    matured: int = 0
    first_contact_matured: int = 0
    csat: CsatReport = field(default_factory=CsatReport)
    abandoned: int = 0  # cases abandoned in the window (see CaseStatus.ABANDONED)

    @property
    def fcr_rate(self) -> float:
        return self.first_contact / self.resolved if self.resolved else 0.0

    @property
    def matured_fcr_rate(self) -> float:
        return self.first_contact_matured / self.matured if self.matured else 0.0

    @property
    def handoff_rate(self) -> float:
        return self.with_handoff / self.resolved if self.resolved else 0.0

    @property
    def handoffs_per_case(self) -> float:
        return self.handoffs / self.resolved if self.resolved else 0.0


@dataclass(frozen=True, slots=True)
class QueueStat:
    """Waiting cases of one rule (topic family)."""

    depth: int
    longest_wait_seconds: float


@dataclass(frozen=True, slots=True)
class ChannelStaffing:
    """Available agents who work a channel, and how full they are there."""

    available: int
    load: int
    capacity: int

    @property
    def occupancy(self) -> float:
        return self.load / self.capacity if self.capacity else 0.0


def queue_stats_of(waiting: Iterable[Case], now: datetime) -> dict[str, QueueStat]:
    """Waiting cases by rule: how many, and the longest wait (for in-process stores)."""
    stats: dict[str, QueueStat] = {}
    for case in waiting:
        known = stats.get(case.rule, QueueStat(0, 0.0))
        waited = (now - (case.queued_at or now)).total_seconds()
        stats[case.rule] = QueueStat(known.depth + 1, max(known.longest_wait_seconds, waited))
    return stats


def staffing_of(agents: Iterable[Agent]) -> dict[Channel, ChannelStaffing]:
    """Available agents by channel they work, with their load and capacity there."""
    staffed: dict[Channel, ChannelStaffing] = {}
    for agent in agents:
        if agent.presence is not Presence.AVAILABLE:
            continue
        for channel, slots in agent.capacity.items():
            if slots > 0:
                known = staffed.get(channel, ChannelStaffing(0, 0, 0))
                staffed[channel] = ChannelStaffing(
                    known.available + 1,
                    known.load + agent.load.get(channel, 0),
                    known.capacity + slots,
                )
    return staffed


def abandoned_in(
    cases: Iterable[Case], since: datetime, until: datetime, channel: Channel | None
) -> int:
    """Cases abandoned in [since, until), on `channel` if given: the in-process
    stores' count for ResolutionReport.abandoned."""
    return sum(
        1
        for c in cases
        if c.abandoned_at is not None
        and since <= c.abandoned_at < until
        and (channel is None or c.channel is channel)
    )
