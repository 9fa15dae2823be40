"""`ticketrouter demo`: the whole service on the embedded defaults, with demo agents
working a stream of omnichannel contacts from returning customers.

What `make run` shows: where gRPC and /metrics listen, one line per routing decision
with its explanation, agents resolving and handing off cases, and every few seconds
a summary of routing, queue, handoffs, first-contact resolution and latency.

Everything goes through the edges a real deployment uses: contacts are published to
Kafka, decisions are read back from `routing-decisions`, and the agents take and
close their cases over gRPC.
"""

from ticketrouter.entrypoints.demo.runner import run_demo

__all__ = ["run_demo"]
