"""The demo's opening lines: where everything listens, who the agents are, and the
column headings of the decision lines that follow."""

from __future__ import annotations

from collections.abc import Sequence

from ticketrouter.entrypoints.demo.catalog import CHANNELS
from ticketrouter.entrypoints.demo.console import say
from ticketrouter.entrypoints.demo.roster import describe_agent
from ticketrouter.entrypoints.runtime import Runtime
from ticketrouter.v1 import agents_pb2


def reachable(address: str, port: int) -> str:
    """An address a client can dial: a wildcard bind is reached through loopback."""
    host = address.rpartition(":")[0].strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}" if sep and "@" in rest else url


def show_banner(
    runtime: Runtime,
    grpc_target: str,
    metrics_target: str,
    rate: float,
    customers: int,
    roster: Sequence[agents_pb2.Agent],
) -> None:
    settings = runtime.settings
    embedded = " (embedded Tansu)" if not settings.kafka_bootstrap else ""
    say("")
    say("ticketrouter demo: one customer, one case, one empowered agent")
    say(f"  gRPC      {grpc_target}")
    say(f"            try: grpcurl -plaintext {grpc_target} list")
    say(
        f"                 grpcurl -plaintext -d '{{}}' {grpc_target} "
        "ticketrouter.v1.RoutingService/ListQueue"
    )
    say(f"  metrics   http://{metrics_target}/metrics")
    say(
        f"  kafka     {runtime.bootstrap_servers}{embedded}: "
        f"{settings.contacts_topic} -> {settings.decisions_topic}"
    )
    say(f"  database  {_redacted(settings.database_url)}")
    say(
        f"  traffic   {rate:g} contacts/s from {customers} customers "
        f"on {len(CHANNELS)} channels (Ctrl-C to stop)"
    )
    say("")
    say(f"{len(roster)} demo agents (skills, authority, languages):")
    for agent in roster:
        say(describe_agent(agent))
    say("")
    say(
        f"{'time':<8}  {'chan':<6} {'customer':<26} {'topic':<17} {'outcome':<10} {'agent':<16} why"
    )
