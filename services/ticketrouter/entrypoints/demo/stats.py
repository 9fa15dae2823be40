"""Running totals of the demo, and the summary line printed every few seconds."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

_ROUTED = ("assigned", "rejoined_case", "reassigned")


@dataclass
class Stats:
    sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    handoffs: int = 0
    resolved: int = 0
    first_contact: int = 0
    revoked: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=50_000))
    _credited: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def contact_sent(self) -> None:
        with self._lock:
            self.sent += 1

    def decision(
        self, outcome: str, case_id: str, from_contact: bool, latency_ms: float | None
    ) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)
            # Measured honestly, as the router does: a repeat contact on a case that
            # was credited as first-contact resolved takes the credit back.
            if from_contact and case_id in self._credited:
                self._credited.discard(case_id)
                self.revoked += 1

    def handoff(self) -> None:
        with self._lock:
            self.handoffs += 1

    def resolution(self, case_id: str, first_contact: bool) -> None:
        with self._lock:
            self.resolved += 1
            if first_contact:
                self.first_contact += 1
                self._credited.add(case_id)

    def summary(self, elapsed_s: float, queued_now: int | None, label: str = "") -> str:
        with self._lock:
            routed = sum(self.outcomes[o] for o in _ROUTED)
            fcr = self.first_contact - self.revoked
            latencies = sorted(self.latencies_ms)
            parts = [
                f"sent {self.sent}",
                f"routed {routed} (assigned {self.outcomes['assigned']}, "
                f"rejoined {self.outcomes['rejoined_case']}, "
                f"reassigned {self.outcomes['reassigned']})",
                f"queued now {'?' if queued_now is None else queued_now}",
                f"handoffs made {self.handoffs}",
                f"resolved {self.resolved}",
                f"FCR so far {fcr / self.resolved:.0%} ({fcr}/{self.resolved})"
                if self.resolved
                else "FCR -",
                f"latency p50 {_percentile(latencies, 0.50)} p99 {_percentile(latencies, 0.99)}",
            ]
        minutes, seconds = divmod(int(elapsed_s), 60)
        return f"=={label} {minutes:d}:{seconds:02d}  " + " | ".join(parts)


def _percentile(ordered: Sequence[float], q: float) -> str:
    if not ordered:
        return "-"
    return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]:.0f} ms"
