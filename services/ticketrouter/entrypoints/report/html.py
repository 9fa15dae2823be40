"""The simulation's HTML report: one self-contained file (`report.html`) with its plots
embedded as PNG data, so it opens anywhere, mails as one attachment and needs no
script or network.

Plots are matplotlib's (Agg, no display): waiting (ASA and 90th percentile) and
abandonment per interval, service level per interval against the target, occupancy
per team in total and per interval; each with the draft (or any second result, e.g.
the historical month) beside the current policy. matplotlib over plotly, measured on this project's
machine: plotly installs faster (2 s against 8 s) but a self-contained plotly page
carries its 4.8 MB script and draws only where JavaScript runs, while these PNGs make
a page of some 200 KB that any viewer shows.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ticketrouter.entrypoints.simulate.results import FIGURE_NAMES, Figures, SimulationResult

REPORT_NAME = "report.html"
_COLOURS = ("#1f5fa8", "#d9730d")


@dataclass(frozen=True, slots=True)
class Series:
    """One result as the report shows it, under its label."""

    label: str
    result: SimulationResult
    # Figures this series has no value for (history records no handoffs): shown as
    # "n/a", never as a 0 that would read as a measurement.
    missing: frozenset[str] = frozenset()


def policy_series(result: SimulationResult) -> list[Series]:
    """A simulation's current policy, and its draft beside it when it ran one."""
    series = [Series("current", result)]
    if result.draft is not None:
        series.append(Series("draft", result.draft))
    return series


def write_report(
    directory: Path,
    series: Sequence[Series],
    title: str,
    target_service_level: float = 0.8,
) -> Path:
    """`series`: the current policy first, then the draft (or history) if any."""
    directory.mkdir(parents=True, exist_ok=True)
    threshold = series[0].result.total.service_level_seconds
    plots = [
        ("Waiting per interval", _waiting_plot(series)),
        ("Abandonment per interval", _abandonment_plot(series)),
        (
            f"Service level ({threshold:g} s) against the {target_service_level:.0%} target",
            _service_level_plot(series, target_service_level),
        ),
        ("Occupancy per team", _occupancy_plot(series)),
        ("Occupancy per team per interval", _team_intervals_plot(series)),
    ]
    path = directory / REPORT_NAME
    path.write_text(_page(title, series, plots), encoding="utf-8")
    return path


def _page(title: str, series: Sequence[Series], plots: list[tuple[str, str]]) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px;"
        "text-align:right}th:first-child,td:first-child{text-align:left}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Totals</h2>",
        _totals_table(series),
    ]
    for heading, png in plots:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(f"<img alt='{html.escape(heading)}' src='data:image/png;base64,{png}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


_SHOWN = (
    ("offered", "offered", "{:,.0f}"),
    ("answered", "answered", "{:,.0f}"),
    ("abandoned", "abandoned", "{:,.0f}"),
    ("abandonment_rate", "abandonment rate", "{:.1%}"),
    ("asa_seconds", "ASA (s)", "{:.1f}"),
    ("wait_p90_seconds", "wait p90 (s)", "{:.1f}"),
    ("service_level", "service level", "{:.1%}"),
    ("p_wait", "P(wait)", "{:.1%}"),
    ("occupancy", "occupancy", "{:.1%}"),
    ("handoffs_per_case", "handoffs per case", "{:.3f}"),
    ("fcr_rate", "FCR", "{:.1%}"),
)
assert all(name in FIGURE_NAMES for name, _, _ in _SHOWN)


def _totals_table(series: Sequence[Series]) -> str:
    head = "".join(f"<th>{html.escape(s.label)}</th>" for s in series)
    if len(series) == 2:
        head += "<th>difference</th>"
    rows = [f"<table><tr><th>figure</th>{head}</tr>"]
    for name, label, form in _SHOWN:
        values = [None if name in s.missing else getattr(s.result.total, name) for s in series]
        cells = "".join(f"<td>{'n/a' if v is None else form.format(v)}</td>" for v in values)
        if len(values) == 2:
            first, second = values
            change = "n/a" if first is None or second is None else _signed(form, second - first)
            cells += f"<td>{change}</td>"
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _signed(form: str, value: float) -> str:
    text = form.format(abs(value))
    return ("+" if value >= 0 else "-") + text


def _per_interval(series: Series, figure: str) -> tuple[list[Any], list[float]]:
    """An interval nobody called in has no waiting or service level, rather than 0:
    it is left as a gap in the line."""
    starts = [i.start for i in series.result.intervals]
    values = [
        float(getattr(i.figures, figure)) if i.figures.offered else math.nan
        for i in series.result.intervals
    ]
    return starts, values


def _waiting_plot(series: Sequence[Series]) -> str:
    figure, axes = _axes("seconds")
    for colour, one in zip(_COLOURS, series, strict=False):
        axes.plot(*_per_interval(one, "asa_seconds"), color=colour, label=f"{one.label}: ASA")
        axes.plot(
            *_per_interval(one, "wait_p90_seconds"),
            color=colour,
            linestyle=":",
            label=f"{one.label}: wait p90",
        )
    return _png(figure, axes)


def _abandonment_plot(series: Sequence[Series]) -> str:
    figure, axes = _axes("abandoned / offered")
    for colour, one in zip(_COLOURS, series, strict=False):
        axes.plot(*_per_interval(one, "abandonment_rate"), color=colour, label=one.label)
    return _png(figure, axes)


def _service_level_plot(series: Sequence[Series], target: float) -> str:
    figure, axes = _axes("answered in time / offered")
    for colour, one in zip(_COLOURS, series, strict=False):
        axes.plot(*_per_interval(one, "service_level"), color=colour, label=one.label)
    axes.axhline(target, color="#2a2", linestyle="--", label=f"target {target:.0%}")
    axes.set_ylim(0, 1.05)
    return _png(figure, axes)


def _occupancy_plot(series: Sequence[Series]) -> str:
    figure, axes = _axes("busy / online")
    teams = sorted({t for s in series for t in s.result.occupancy_by_team})
    width = 0.8 / max(1, len(series))
    for k, (colour, one) in enumerate(zip(_COLOURS, series, strict=False)):
        values = [one.result.occupancy_by_team.get(t, 0.0) for t in teams]
        positions = [n + k * width for n in range(len(teams))]
        axes.bar(positions, values, width=width, color=colour, label=one.label)
    axes.set_xticks([n + width * (len(series) - 1) / 2 for n in range(len(teams))], teams)
    axes.set_ylim(0, 1.05)
    return _png(figure, axes)


_STYLES = ("-", ":")


def _team_intervals_plot(series: Sequence[Series]) -> str:
    """A line a team (its colour), solid for the first series, dotted for the
    second; an interval the team was offline in is a gap."""
    figure, axes = _axes("busy / online")
    teams = sorted({t for s in series for i in s.result.intervals for t in i.occupancy_by_team})
    for style, one in zip(_STYLES, series, strict=False):
        starts = [i.start for i in one.result.intervals]
        for n, team in enumerate(teams):
            values = [i.occupancy_by_team.get(team, math.nan) for i in one.result.intervals]
            axes.plot(starts, values, color=f"C{n}", linestyle=style, label=f"{one.label}: {team}")
    axes.set_ylim(0, 1.05)
    return _png(figure, axes)


def _axes(ylabel: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(10, 3.6), dpi=90)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    return figure, axes


def _png(figure: Any, axes: Any) -> str:
    from matplotlib import pyplot

    axes.legend(loc="upper right", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def figures_row(figures: Figures) -> dict[str, float]:
    """The totals the table shows, by figure name (for callers printing them)."""
    return {name: float(getattr(figures, name)) for name, _, _ in _SHOWN}
