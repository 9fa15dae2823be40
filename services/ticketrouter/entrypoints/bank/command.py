"""`ticketrouter simulate import-bank CSV [-o SCENARIO.yaml] [--seed N]`, and with
`--compare [RESULT.json] [--report DIR]` the month's outcomes beside a simulation."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from ticketrouter.entrypoints.bank.calls import (
    BankCall,
    BankFileError,
    locate_bank_csv,
    read_bank_calls,
)
from ticketrouter.entrypoints.bank.compare import ResultFileError, comparison_table, load_result
from ticketrouter.entrypoints.bank.convert import SERVICE_LEVEL_SECONDS, bank_month, write_scenario
from ticketrouter.entrypoints.bank.history import HISTORY_LACKS, historical_result
from ticketrouter.entrypoints.bank.staffing import BankAgent, bank_agents
from ticketrouter.entrypoints.report.html import Series, write_report


def run_import_bank(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="ticketrouter simulate import-bank",
        description="the Anonymous Bank month as a simulation scenario (see deploy/SIMULATION.md)",
    )
    parser.add_argument(
        "csv", nargs="?", type=Path, default=None, help=f"the month (default: {locate_bank_csv()})"
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("bank-1999-08.yaml"))
    parser.add_argument("--seed", type=int, default=1, help="for handle and patience draws")
    parser.add_argument(
        "--compare",
        nargs="?",
        const="",
        default=None,
        metavar="RESULT.json",
        help="print the month's outcomes per service type, beside a simulation of the "
        "converted scenario when given what `ticketrouter simulate SCENARIO --json` printed",
    )
    parser.add_argument(
        "--report", type=Path, default=None, metavar="DIR", help="with --compare: an HTML report"
    )
    args = parser.parse_args(argv)
    source = args.csv or locate_bank_csv()
    try:
        calls = read_bank_calls(source)
    except BankFileError as err:
        print(f"import-bank: {err}", file=sys.stderr)
        return 2
    if not calls:
        print(f"import-bank: {source}: no calls", file=sys.stderr)
        return 2
    agents = bank_agents(calls)
    if args.compare is not None:
        return _compare(calls, agents, args.compare, args.report)
    written = write_scenario(calls, agents, args.output, args.seed)
    offered = sum(1 for c in calls if c.asked_for_agent)
    print(f"{len(calls)} calls, {offered} asked for an agent, {len(agents)} agents")
    for path in written:
        print(f"wrote {path}")
    return 0


def _compare(
    calls: list[BankCall], agents: list[BankAgent], result_file: str, report: Path | None
) -> int:
    simulated = None
    if result_file:
        try:
            simulated = load_result(Path(result_file))
        except ResultFileError as err:
            print(f"import-bank --compare: {err}", file=sys.stderr)
            return 2
    start, end = bank_month(calls)
    history = historical_result(
        calls, agents, start, end, timedelta(minutes=30), SERVICE_LEVEL_SECONDS
    )
    print(comparison_table(history, simulated))
    if report is not None:
        series = [Series("history", history, HISTORY_LACKS)]
        if simulated is not None:
            series.append(Series("simulated", simulated))
        path = write_report(report, series, "Anonymous Bank, August: history and simulation")
        print(f"wrote {path}")
    return 0
