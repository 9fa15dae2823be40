"""`ticketrouter simulate SCENARIO` and `ticketrouter staffing`: what a person reads on
the terminal (a progress bar on stderr, a table that fits 80 columns), or one JSON
object with --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from ticketrouter.domain.erlang import fewest_agents
from ticketrouter.entrypoints.report.html import policy_series, write_report
from ticketrouter.entrypoints.simulate.results import Figures, SimulationResult
from ticketrouter.entrypoints.simulate.runner import simulate
from ticketrouter.entrypoints.simulate.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    parse_duration,
)

BAR = 40
MAX_INTERVAL_LINES = 48  # a day of half hours


def run_simulate(
    scenario_file: Path,
    draft: Path | None,
    as_json: bool,
    seed: int | None,
    report: Path | None = None,
) -> int:
    """`report`: a folder for the HTML report of the run (current beside the draft)."""
    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as err:
        print(f"{scenario_file}: {err}", file=sys.stderr)
        return 2
    if draft is not None and not draft.is_file():
        print(f"--policy: no such file: {draft}", file=sys.stderr)
        return 2
    for note in _traffic_notes(scenario):
        print(f"{scenario_file}: {note}", file=sys.stderr)
    bar = _ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    result = simulate(scenario, draft, seed, bar.show if bar else None)
    if bar is not None:
        bar.done()
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        print(summary(result))
    if report is not None:
        title = scenario.name or scenario_file.stem
        if draft is not None:
            title += f": current against {draft.name}"
        path = write_report(report, policy_series(result), title)
        # On stderr, so that --json output stays one object.
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _traffic_notes(scenario: Scenario) -> list[str]:
    """What the traffic file held that the run leaves out, said before it starts."""
    recorded = scenario.traffic.recorded
    notes = []
    if recorded.outside:
        notes.append(f"traffic.file: {recorded.outside} event(s) outside the run, left out")
    if recorded.redelivered:
        notes.append(f"traffic.file: {recorded.redelivered} repeated event_id(s), delivered once")
    if recorded.ignored_fields:
        fields = ", ".join(recorded.ignored_fields[:5])
        notes.append(f"traffic.file: fields the contract does not know, ignored: {fields}")
    return notes


class _ProgressBar:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._shown = -1

    def show(self, share: float) -> None:
        filled = int(share * BAR)
        if filled != self._shown:
            self._shown = filled
            self._out.write(f"\rsimulating [{'#' * filled}{'.' * (BAR - filled)}] {share:4.0%}")
            self._out.flush()

    def done(self) -> None:
        self._out.write("\r" + " " * (BAR + 20) + "\r")
        self._out.flush()


_ROWS = (
    ("offered", "offered", "{:.0f}"),
    ("answered", "answered", "{:.0f}"),
    ("abandoned", "abandonment_rate", "{:.1%}"),
    ("ASA", "asa_seconds", "{:.1f} s"),
    ("wait p90", "wait_p90_seconds", "{:.1f} s"),
    ("service level", "service_level", "{:.1%}"),
    ("P(wait)", "p_wait", "{:.1%}"),
    ("occupancy", "occupancy", "{:.1%}"),
    ("handoffs/case", "handoffs_per_case", "{:.3f}"),
    ("FCR", "fcr_rate", "{:.1%}"),
)


def summary(result: SimulationResult) -> str:
    """The totals, and with a draft the draft and the difference, in 80 columns."""
    total = result.total
    head = f"{'':<16}{'current':>14}"
    if result.draft is not None:
        head += f"{'draft':>14}{'difference':>14}"
    lines = [
        f"{result.replications} replication(s), seed {result.seed}; "
        f"service level within {total.service_level_seconds:g} s",
        head,
    ]
    for label, name, fmt in _ROWS:
        line = f"{label:<16}{fmt.format(getattr(total, name)):>14}"
        if result.draft is not None:
            draft: Figures = result.draft.total
            change = getattr(draft, name) - getattr(total, name)
            line += f"{fmt.format(getattr(draft, name)):>14}{_signed(fmt, change):>14}"
        lines.append(line)
    lines.append(f"{'unroutable':<16}{total.unroutable:>14.0f}")
    if result.occupancy_by_team:
        teams = ", ".join(f"{t} {o:.0%}" for t, o in result.occupancy_by_team.items())
        lines.append(f"occupancy by team: {teams}"[:80])
    lines += breakdown("rule", result.by_rule)
    lines += breakdown("channel", result.by_channel)
    if len(result.intervals) <= MAX_INTERVAL_LINES:
        lines += breakdown(
            "interval", {i.start.strftime("%m-%d %H:%M"): i.figures for i in result.intervals}
        )
    else:  # a month of half hours is for --json and the report, not a screen
        lines += ["", f"{len(result.intervals)} intervals: see --json or --report"]
    return "\n".join(lines)


# One line a group: (heading, figure, width, format); 80 columns with a 16-wide name.
_BREAKDOWN = (
    ("offered", "offered", 8, "{:.0f}"),
    ("aband", "abandonment_rate", 7, "{:.1%}"),
    ("ASA s", "asa_seconds", 7, "{:.1f}"),
    ("p90 s", "wait_p90_seconds", 7, "{:.0f}"),
    ("SL", "service_level", 7, "{:.1%}"),
    ("occ", "occupancy", 7, "{:.1%}"),
    ("hand", "handoffs_per_case", 6, "{:.2f}"),
    ("FCR", "fcr_rate", 7, "{:.1%}"),
    ("unrout", "unroutable", 7, "{:.0f}"),
)


def breakdown(by: str, groups: Mapping[str, Figures]) -> list[str]:
    """The current policy's figures per group (rule, channel or interval), one line
    each, under a heading naming the grouping."""
    if not groups:
        return []
    head = f"{'by ' + by:<16}" + "".join(f"{h:>{w}}" for h, _, w, _ in _BREAKDOWN)
    lines = ["", head]
    for name, figures in groups.items():
        cells = "".join(f"{fmt.format(getattr(figures, f)):>{w}}" for _, f, w, fmt in _BREAKDOWN)
        lines.append(f"{name[:15]:<16}{cells}")
    return lines


def _signed(fmt: str, value: float) -> str:
    text = fmt.format(value)
    return text if text.startswith("-") else "+" + text


def run_staffing(calls: float, interval: str, aht: float, target: str, as_json: bool) -> int:
    """The fewest agents for N calls an interval at an AHT and an `80/20` target."""
    try:
        seconds = parse_duration(interval, "--interval").total_seconds()
        share_text, _, within_text = target.partition("/")
        share, within = float(share_text) / 100.0, float(within_text)
    except (ScenarioError, ValueError) as err:
        print(f"ticketrouter staffing: {err}; e.g. --interval 30m --target 80/20", file=sys.stderr)
        return 2
    if calls < 0 or aht <= 0 or seconds <= 0 or not 0 < share < 1 or within < 0:
        print(
            "ticketrouter staffing: calls ≥ 0, aht > 0, interval > 0, target 1..99/seconds",
            file=sys.stderr,
        )
        return 2
    found = fewest_agents(calls, seconds, aht, share, within)
    if as_json:
        print(
            json.dumps(
                {
                    "agents": found.agents,
                    "p_wait": round(found.p_wait, 6),
                    "asa_seconds": round(found.asa_seconds, 3),
                    "service_level": round(found.service_level, 6),
                    "occupancy": round(found.occupancy, 6),
                }
            )
        )
        return 0
    print(
        f"{found.agents} agents: P(wait) {found.p_wait:.1%}, ASA {found.asa_seconds:.1f} s, "
        f"{found.service_level:.1%} within {within:g} s, occupancy {found.occupancy:.1%}"
    )
    return 0
