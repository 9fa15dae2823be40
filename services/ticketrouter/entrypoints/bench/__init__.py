"""`ticketrouter bench`: the performance figures of DESIGN.md §8, one JSON line each.

stdout carries only JSON lines, `{"figure", "value", "unit", ...context}`, so that runs
can be compared; progress goes to stderr. Every run uses fresh, uniquely named topics
and fresh SQLite files in a temporary directory that is removed at the end:

1. publish N `contact.received` events: an omnichannel mix of N/5 customers who come
   back on other channels, so that follow-ups rejoin their open cases;
2. (a) the ceiling: raw kafka-python consume + json.loads of those events;
   (b) the worker on the same events: Kafka in -> decision committed -> published
       through the outbox -> offsets committed, checked against `processed_events`;
   (c) event -> decision latency at a paced 1,000 contacts/s, the load coming from
       a separate process so that it does not compete with the worker for the GIL;
3. matching: `rank_agents` among M online agents;
4. gRPC: the service's server in-process (real factory, fresh SQLite file, 1,000 cases
   created through SubmitContact), driven from separate client processes: the unary
   rate of the stock health Check (the ceiling of the gRPC stack), then of GetCase;
5. streams: 1,000 `WatchAssignments` desks (one per agent, one asyncio client
   process, 100 streams a channel) on one `ticketrouter serve --without-worker`
   process, fed by a separate `ticketrouter worker` routing 200 contacts/s from
   Kafka: streams held, every assignment at its agent's desk once, the delay from
   the relay's send to the desk beside a plain topic reader's, and the server's RSS
   with the streams open beside before;
6. scale-out: min(N, 10,000) events published once, drained by 1, 2 and 4
   `ticketrouter worker` processes in one consumer group (a group and a fresh
   PostgreSQL database per count), beside the raw consume rate of the same events.
   It needs PostgreSQL (the configured server, else the development one at
   127.0.0.1:5432) and is skipped with a message without it.

Figures: publish_rate, kafka_consume_baseline, worker_throughput (with its ratio to the
baseline), worker_processed_events (the check), routing_latency_p50/p99,
decision_published_latency_p99, matching_mean/p99, grpc_health_check_rate,
grpc_getcase_rate (with its ratio to the health Check rate), watch_streams (with
delivered, delivery_p99_ms and the topic reader's p99), server_rss_mb,
scale_out_publish_rate,
scale_out_consume_baseline, scale_out_throughput (one per worker count, with its speedup
over one worker and whether the group stayed stable while draining). Targets are printed
beside the figures they apply to; missing one is reported, not treated as a failure.

`--stages grpc` (or any comma-separated list of worker, latency, matching, policy,
grpc, streams, scale-out) runs only those stages, to measure them alone; a broker is started
only for the stages that read Kafka.

Modules, in the order a run uses them: `run` (the whole run), `publish` (1),
`baseline` (2a), `throughput` (2b), `latency` with `paced_load` (2c), `matching` (3),
`grpc_rate` with `grpc_rig` and `grpc_load` (4), `streams` with `desk_streams` (5),
`scale_out` with `worker_fleet` (6);
shared by those: `traffic`, `synthetic_agents`, `kafka_tools`, `worker_rig`, `reporting`.
"""

from ticketrouter.entrypoints.bench.run import STAGES, parse_stages, run_bench

__all__ = ["STAGES", "parse_stages", "run_bench"]
