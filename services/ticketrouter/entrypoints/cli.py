"""`ticketrouter` command line."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from ticketrouter import config
from ticketrouter.adapters.dlq_reasons import DLQ_REASONS
from ticketrouter.entrypoints import logs


def _bench_stages(text: str) -> tuple[str, ...]:
    from ticketrouter.entrypoints.bench import parse_stages

    try:
        return parse_stages(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words[:2] == ["simulate", "import-bank"]:
        # Its own parser, so it stays beside whatever `simulate SCENARIO` takes.
        from ticketrouter.entrypoints.bank.command import run_import_bank

        return run_import_bank(words[2:])
    parser = argparse.ArgumentParser(prog="ticketrouter", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="gRPC server, Kafka worker and /metrics in one process"
    )
    serve.add_argument(
        "--without-worker",
        action="store_true",
        help="the gRPC server and /metrics only: the workers run as `ticketrouter worker`",
    )
    commands.add_parser("worker", help="the Kafka worker alone (scale out with more)")
    demo = commands.add_parser("demo", help="serve, with demo agents and omnichannel traffic")
    demo.add_argument("--rate", type=float, default=4.0, help="contacts per second")
    demo.add_argument("--seconds", type=float, default=0, help="stop after (0: until Ctrl-C)")
    bench = commands.add_parser("bench", help="throughput and matching benchmarks")
    bench.add_argument("--events", type=int, default=50_000)
    bench.add_argument("--agents", type=int, default=10_000)
    bench.add_argument(
        "--stages",
        type=_bench_stages,
        default=(),
        help="comma-separated stages to run alone (worker, latency, matching, policy, "
        "grpc, streams, scale-out); all by default",
    )
    health = commands.add_parser(
        "health", help="ask the local server's gRPC health service (exit 0 if SERVING)"
    )
    health.add_argument("--address", default="", help="host:port (TICKETROUTER_GRPC_ADDRESS)")
    db = commands.add_parser("db", help="the database schema's revision (Alembic)")
    db.add_argument(
        "db_command",
        choices=("upgrade", "current", "check"),
        help="upgrade: to this version's head; current: say where it is; "
        "check: exit 1 unless at head",
    )
    events = commands.add_parser("events", help="contact events on the input topic")
    events_commands = events.add_subparsers(dest="events_command", required=True)
    publish = events_commands.add_parser(
        "publish",
        help="publish contact events (JSON lines) to the input topic, keyed by customer",
    )
    publish.add_argument("source", help="a file of JSON lines, or - for standard input")
    publish.add_argument(
        "--bootstrap", default="", help="Kafka bootstrap servers (TICKETROUTER_KAFKA_BOOTSTRAP)"
    )
    dlq = commands.add_parser("dlq", help="the dead-letter topic")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_replay = dlq_commands.add_parser(
        "replay",
        help="re-publish dead-lettered events to the input topic, after a fix "
        "(idempotent: the worker skips event ids it has processed)",
    )
    dlq_replay.add_argument(
        "--reason",
        action="append",
        default=[],
        choices=DLQ_REASONS,
        metavar="REASON",
        help="only copies dead-lettered for this reason (repeatable; default: all): "
        + ", ".join(DLQ_REASONS),
    )
    dlq_replay.add_argument(
        "--from-beginning",
        action="store_true",
        help="start over from the oldest copy, not where the last replay stopped",
    )
    dlq_replay.add_argument(
        "--bootstrap", default="", help="Kafka bootstrap servers (TICKETROUTER_KAFKA_BOOTSTRAP)"
    )
    rules = commands.add_parser("rules", help="routing policies")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True)
    validate = rules_commands.add_parser("validate", help="check a policy file")
    validate.add_argument("file", type=Path)
    validate.add_argument(
        "--strict", action="store_true", help="exit 1 on warnings too (for CI checks of drafts)"
    )
    replay = rules_commands.add_parser(
        "replay", help="past contacts through the policy in force and a draft, compared"
    )
    replay.add_argument("--policy", type=Path, required=True, help="the draft policy (YAML)")
    replay.add_argument(
        "--from",
        dest="source",
        required=True,
        help="a file of contact events (JSON lines), or a Kafka topic read from the start",
    )
    replay.add_argument(
        "--bootstrap", default="", help="Kafka bootstrap servers (TICKETROUTER_KAFKA_BOOTSTRAP)"
    )
    replay.add_argument("--limit", type=int, default=0, help="at most this many events (0: all)")
    sim = commands.add_parser(
        "simulate",
        help="the real router on a virtual clock against a scenario's traffic "
        "(`simulate import-bank CSV` makes a scenario of the bank month)",
    )
    sim.add_argument("scenario", type=Path, help="the scenario (YAML)")
    sim.add_argument("--policy", type=Path, help="a draft policy to compare with the scenario's")
    sim.add_argument("--json", action="store_true", help="one JSON object on standard output")
    sim.add_argument("--seed", type=int, help="overrides the scenario's seed")
    sim.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="also write DIR/report.html: the plots of the run (and of the draft beside it)",
    )
    staffing = commands.add_parser(
        "staffing", help="Erlang C: the fewest agents meeting a service-level target"
    )
    staffing.add_argument("--calls", type=float, required=True, help="calls per interval")
    staffing.add_argument("--interval", default="30m", help="interval length (e.g. 30m)")
    staffing.add_argument("--aht", type=float, required=True, help="average handle time, s")
    staffing.add_argument("--target", default="80/20", help="percent/seconds, e.g. 80/20")
    staffing.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    if args.command in ("simulate", "staffing"):
        # Nothing to configure or log: neither touches a database or a broker.
        from ticketrouter.entrypoints.simulate.command import run_simulate, run_staffing

        if args.command == "staffing":
            return run_staffing(args.calls, args.interval, args.aht, args.target, args.json)
        return run_simulate(args.scenario, args.policy, args.json, args.seed, args.report)

    settings = config.from_env()
    logs.configure(settings.log_level, settings.log_format)
    from ticketrouter.adapters.schema import SchemaNotCurrent

    try:
        return _run(settings, args)
    except SchemaNotCurrent as err:
        print(f"ticketrouter {args.command}: {err}", file=sys.stderr)
        return 2


def _run(settings: config.Settings, args: argparse.Namespace) -> int:
    if args.command == "health":
        from ticketrouter.entrypoints.health_check import check_health

        return check_health(args.address or settings.grpc_address)
    if args.command == "db":
        from ticketrouter.entrypoints.schema_commands import run_db

        return run_db(settings, args.db_command)
    if args.command == "events":
        from ticketrouter.entrypoints.events_publish import run_publish

        return run_publish(settings, args.source, args.bootstrap or settings.kafka_bootstrap)
    if args.command == "dlq":
        from ticketrouter.entrypoints.dlq_commands import run_dlq_replay

        return run_dlq_replay(
            settings, args.bootstrap or settings.kafka_bootstrap, args.reason, args.from_beginning
        )
    if args.command == "rules":
        if args.rules_command == "replay":
            return _replay(settings, args)
        return _validate_rules(args.file, args.strict)
    if args.command == "bench":
        from ticketrouter.entrypoints.bench import STAGES, run_bench

        return run_bench(settings, args.events, args.agents, args.stages or STAGES)
    if args.command == "demo":
        from ticketrouter.entrypoints.demo import run_demo

        return run_demo(settings, args.rate, args.seconds)
    if args.command == "serve":
        return _serve(settings, with_grpc=True, with_worker=not args.without_worker)
    return _serve(settings, with_grpc=False, with_worker=True)


def _serve(settings: config.Settings, with_grpc: bool, with_worker: bool) -> int:
    from ticketrouter.entrypoints.runtime import Runtime
    from ticketrouter.entrypoints.schema_commands import require_current_schema

    # Before a broker or a port is touched: a schema behind or ahead is one message.
    require_current_schema(settings)

    runtime = Runtime(settings, with_grpc=with_grpc, with_worker=with_worker).start()
    signal.signal(signal.SIGTERM, lambda *_: runtime.stopped.set())
    try:
        while not runtime.stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
    return 1 if runtime.failed else 0


def _validate_rules(path: Path, strict: bool) -> int:
    """0 when valid; 1 with every problem on its own line (and with warnings, when
    strict); 2 when unreadable. Warnings follow the problems, each on its own line."""
    from ticketrouter.adapters.rules_file import load_policy
    from ticketrouter.domain.policy_document import InvalidPolicy

    try:
        policy = load_policy(path)
    except OSError as err:
        print(f"{path}: {err.strerror or err}", file=sys.stderr)
        return 2
    except InvalidPolicy as err:
        for problem in err.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        for warning in err.warnings:
            print(f"{path}: warning: {warning}", file=sys.stderr)
        return 1
    for warning in policy.warnings:
        print(f"{path}: warning: {warning}", file=sys.stderr)
    reads = "reads the customer" if policy.needs_customer else "reads the contact only"
    count = len(policy.warnings)
    warned = f"; {count} warning{'s' if count != 1 else ''}" if count else ""
    print(
        f"{path}: valid, {len(policy.rules)} rules ({', '.join(policy.rule_names)}); "
        f"{reads}{warned}"
    )
    return 1 if strict and policy.warnings else 0


def _replay(settings: config.Settings, args: argparse.Namespace) -> int:
    from ticketrouter.entrypoints.policy_replay import run_replay

    if args.limit < 0:
        print("--limit must be 0 (all) or more", file=sys.stderr)
        return 2
    return run_replay(
        settings, args.policy, args.source, args.bootstrap or settings.kafka_bootstrap, args.limit
    )


if __name__ == "__main__":
    sys.exit(main())
