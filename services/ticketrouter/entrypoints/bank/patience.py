"""Callers' patience from a queue's history, with the censoring handled.

A caller who hung up after waiting w had patience w: an observation. A caller who
was answered after waiting w had patience of *at least* w: we never learn how much
longer they would have held, so their wait is right-censored. Taking only the
hang-ups' waits would describe the impatient alone (most patient callers are
answered before they give up), and taking every wait as patience would stop the
patient ones at the moment an agent happened to pick up: both make customers look
less patient than they are. The Kaplan-Meier product-limit estimator uses both kinds
of record for what they say: at each wait at which someone hung up, the chance of
holding on is (at risk - hung up) / at risk, where "at risk" counts every caller
still waiting at that moment, answered later or not. It assumes the wait an agent
ends is independent of the caller's patience, which a queue served in priority and
arrival order comes close to.

Beyond the longest wait seen the estimate says nothing (its curve may stop above
zero); the rest is an exponential tail at the queue's average hang-up rate (hang-ups
over total waiting time, the constant-hazard estimate), so every caller draws a
finite patience.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PatienceCurve:
    """S(t), the share of callers still willing to wait after t seconds."""

    times: tuple[float, ...]  # waits at which someone hung up, ascending
    survival: tuple[float, ...]  # S just after each of those times
    tail_rate: float  # hang-ups a second of waiting, for the tail past the horizon
    horizon: float  # the longest wait observed, hung up or answered
    hang_ups: int
    censored: int

    def surviving(self, seconds: float) -> float:
        k = bisect.bisect_right(self.times, seconds)
        if k < len(self.times) or not self.times:
            return 1.0 if k == 0 else self.survival[k - 1]
        tail = max(0.0, seconds - self.horizon)
        return self.survival[-1] * math.exp(-self.tail_rate * tail)

    def median(self) -> float:
        return self.quantile(0.5)

    def quantile(self, share_given_up: float) -> float:
        """The wait by which `share_given_up` of callers would have hung up."""
        target = 1.0 - share_given_up
        for time, surviving in zip(self.times, self.survival, strict=True):
            if surviving <= target:
                return time
        last = self.survival[-1] if self.survival else 1.0
        if self.tail_rate <= 0 or target <= 0:
            return math.inf
        return self.horizon + math.log(last / target) / self.tail_rate

    def draw(self, rng: random.Random) -> float:
        """One caller's patience (inverse transform of the curve and its tail)."""
        return self.quantile(rng.random())  # in [0, 1): never the infinite end


def kaplan_meier(records: Iterable[tuple[float, bool]]) -> PatienceCurve:
    """`records`: (seconds waited, hung up?) per caller; answered callers are censored."""
    ordered = sorted(records)
    at_risk = len(ordered)
    hang_ups = sum(1 for _, hung in ordered if hung)
    exposure = sum(seconds for seconds, _ in ordered)
    times: list[float] = []
    survival: list[float] = []
    surviving = 1.0
    k = 0
    while k < len(ordered):
        time = ordered[k][0]
        events = leaving = 0
        while k < len(ordered) and ordered[k][0] == time:
            events += ordered[k][1]
            leaving += 1
            k += 1
        if events:  # hang-ups at a tie count before the answered calls leave the risk set
            surviving *= (at_risk - events) / at_risk
            times.append(time)
            survival.append(surviving)
        at_risk -= leaving
    return PatienceCurve(
        times=tuple(times),
        survival=tuple(survival),
        tail_rate=hang_ups / exposure if exposure else 0.0,
        horizon=ordered[-1][0] if ordered else 0.0,
        hang_ups=hang_ups,
        censored=len(ordered) - hang_ups,
    )
