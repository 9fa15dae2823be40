"""History beside a simulation of the same month, per service type and in total.

The simulated side is what `ticketrouter simulate SCENARIO --json` printed for the
converted scenario, read back into a SimulationResult, so the comparison needs no
second run and any saved run can be compared again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ticketrouter.entrypoints.bank.history import by_service
from ticketrouter.entrypoints.bank.queues import services_in_order
from ticketrouter.entrypoints.simulate.results import (
    FIGURE_NAMES,
    Figures,
    IntervalFigures,
    SimulationResult,
)


class ResultFileError(ValueError):
    """Not a `simulate --json` result: names what is missing."""


def load_result(path: Path) -> SimulationResult:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ResultFileError(f"{path}: cannot read: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise ResultFileError(f"{path}: not JSON: {err}") from None
    return result_from_json(document, str(path))


def result_from_json(document: Any, where: str = "result") -> SimulationResult:
    if not isinstance(document, Mapping):
        raise ResultFileError(f"{where}: must be a JSON object")
    try:
        intervals = tuple(
            IntervalFigures(datetime.fromisoformat(i["start"]), _figures(i, where))
            for i in document.get("intervals", [])
        )
    except (KeyError, TypeError, ValueError):
        raise ResultFileError(f"{where}: intervals: each needs an ISO 8601 start") from None
    return SimulationResult(
        total=_figures(document, where),
        intervals=intervals,
        by_rule={str(k): _figures(v, where) for k, v in document.get("by_rule", {}).items()},
        by_channel={str(k): _figures(v, where) for k, v in document.get("by_channel", {}).items()},
        occupancy_by_team={
            str(k): float(v) for k, v in document.get("occupancy_by_team", {}).items()
        },
        replications=int(document.get("replications", 1)),
        seed=int(document.get("seed", 0)),
        policy=str(document.get("policy", "")),
    )


def _figures(raw: Any, where: str) -> Figures:
    if not isinstance(raw, Mapping) or "offered" not in raw:
        raise ResultFileError(f"{where}: not a simulation result (no offered)")
    values = {name: float(raw[name]) for name in FIGURE_NAMES if name in raw}
    return Figures(**values)


def comparison_table(history: SimulationResult, simulated: SimulationResult | None) -> str:
    """Abandonment rate, ASA and service level per service type and in total, history
    beside simulation; 80 columns."""
    past = by_service(history.by_rule)
    now = by_service(simulated.by_rule) if simulated else {}
    threshold = history.total.service_level_seconds
    lines = [
        f"{'':8}{'offered':>8}  {'abandoned':^17}  {'ASA (s)':^17}  "
        f"{f'service level {threshold:g} s':^19}",
        f"{'':8}{'':>8}  {'history':>8} {'sim':>8}  {'history':>8} {'sim':>8}  "
        f"{'history':>9} {'sim':>9}",
    ]
    rows = [(s, past[s], now.get(s)) for s in services_in_order(set(past))]
    rows.append(("total", history.total, simulated.total if simulated else None))
    for name, was, sim in rows:
        lines.append(
            f"{name:8}{was.offered:8,.0f}  "
            f"{was.abandonment_rate:8.1%} {_or_dash(sim, 'abandonment_rate', '{:8.1%}')}  "
            f"{was.asa_seconds:8.1f} {_or_dash(sim, 'asa_seconds', '{:8.1f}')}  "
            f"{was.service_level:9.1%} {_or_dash(sim, 'service_level', '{:9.1%}')}"
        )
    return "\n".join(line.rstrip() for line in lines)


def _or_dash(figures: Figures | None, name: str, form: str) -> str:
    """The simulated figure, or a dash as wide when there is no simulation."""
    if figures is None:
        return "-".rjust(len(form.format(0.0)))
    return form.format(getattr(figures, name))
