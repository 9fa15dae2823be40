"""The customer's verdict: CSAT answers, counted beside the router's own view of the
case (first-contact resolved, how many handoffs), so the two can be compared.

An answer is counted once, when it arrives, under the case's state at that moment.
A later answer for the same case replaces it: the earlier one is counted again as
replaced, under the labels it was counted with, so that responses minus replaced is
the number of cases with an answer and every counter only ever rises. An answer that
is older than the one on record (it arrived late) replaces nothing and is not counted.

First contact is the provisional figure at the time of the answer: a repeat contact
after the answer reopens the case, and the answer that follows its next resolution
replaces this one under its new state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ticketrouter.domain.channels import Channel

SCORES = (1, 2, 3, 4, 5)


class HandoffBand(StrEnum):
    """Handoffs of the case when the customer answered; a closed set for labels."""

    NONE = "0"
    ONE = "1"
    MORE = "2+"


def handoff_band(handoffs: int) -> HandoffBand:
    if handoffs <= 0:
        return HandoffBand.NONE
    return HandoffBand.ONE if handoffs == 1 else HandoffBand.MORE


@dataclass(frozen=True, slots=True)
class SurveyAnswer:
    event_id: str
    case_id: str
    channel: Channel  # the case's first channel, where FCR is reported too
    score: int
    handoffs: int
    first_contact: bool
    answered_at: datetime

    @property
    def band(self) -> HandoffBand:
        return handoff_band(self.handoffs)


@dataclass(frozen=True, slots=True)
class CsatGroup:
    """Answers that share their labels, counted (+1) or replaced (-1) in a window."""

    channel: Channel
    score: int
    band: HandoffBand
    first_contact: bool
    count: int


@dataclass(frozen=True, slots=True)
class CsatTally:
    responses: int = 0
    points: int = 0  # the sum of the scores

    @property
    def mean(self) -> float:
        return self.points / self.responses if self.responses else 0.0

    def add(self, score: int, count: int) -> CsatTally:
        return CsatTally(self.responses + count, self.points + score * count)


@dataclass(frozen=True, slots=True)
class CsatReport:
    overall: CsatTally = CsatTally()
    first_contact: CsatTally = CsatTally()  # first-contact resolved when answered
    handed_off: CsatTally = CsatTally()  # one or more handoffs when answered
    by_channel: Mapping[Channel, CsatTally] = field(default_factory=dict)
    by_handoffs: Mapping[HandoffBand, CsatTally] = field(default_factory=dict)


def csat_report(groups: Iterable[CsatGroup]) -> CsatReport:
    """Net figures of a window: answers counted in it less answers replaced in it,
    which is what the counters' increases give over the same window."""
    overall, first, handed = CsatTally(), CsatTally(), CsatTally()
    by_channel: dict[Channel, CsatTally] = {}
    by_band: dict[HandoffBand, CsatTally] = {}
    for g in groups:
        overall = overall.add(g.score, g.count)
        if g.first_contact:
            first = first.add(g.score, g.count)
        if g.band is not HandoffBand.NONE:
            handed = handed.add(g.score, g.count)
        by_channel[g.channel] = by_channel.get(g.channel, CsatTally()).add(g.score, g.count)
        by_band[g.band] = by_band.get(g.band, CsatTally()).add(g.score, g.count)
    return CsatReport(overall, first, handed, by_channel, by_band)
