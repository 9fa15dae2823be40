"""`ticketrouter simulate import-bank CSV [-o SCENARIO.yaml] [--seed N]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ticketrouter.entrypoints.bank.calls import BankFileError, locate_bank_csv, read_bank_calls
from ticketrouter.entrypoints.bank.convert import write_scenario
from ticketrouter.entrypoints.bank.staffing import bank_agents


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
    written = write_scenario(calls, agents, args.output, args.seed)
    offered = sum(1 for c in calls if c.asked_for_agent)
    print(f"{len(calls)} calls, {offered} asked for an agent, {len(agents)} agents")
    for path in written:
        print(f"wrote {path}")
    return 0
