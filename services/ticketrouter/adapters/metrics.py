"""Prometheus metrics (prefix ticketrouter_), built against an injected registry.

Labels come only from closed sets (channel, outcome, reason): never a customer,
case or agent id. Known label values are pre-initialised so rates exist from zero.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ticketrouter.domain.cases import HandoffReason
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.decisions import Outcome
from ticketrouter.domain.events import (
    CaseResolved,
    CaseRouted,
    ContactReceived,
    Event,
    FirstContactRevoked,
    HandoffRecorded,
)
from ticketrouter.service_layer.ports import MetricsPort

DLQ_REASONS = (
    "too_large",
    "bad_json",
    "bad_protobuf",
    "unknown_type",
    "missing_field",
    "invalid_value",
    "unknown_reference",
)
# Routing is fast when an agent is free; the long tail is queueing and broker lag.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
WAIT_BUCKETS = (1, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class PrometheusMetrics(MetricsPort):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        channels = [c.value for c in Channel]
        self.contacts = Counter(
            "ticketrouter_contacts_received_total",
            "Contacts received, by channel",
            ["channel"],
            registry=registry,
        )
        self.decisions = Counter(
            "ticketrouter_routing_decisions_total",
            "Routing decisions, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.handoffs = Counter(
            "ticketrouter_handoffs_total",
            "Cases handed from one agent to another, by reason",
            ["reason"],
            registry=registry,
        )
        self.resolved = Counter(
            "ticketrouter_cases_resolved_total",
            "Cases resolved, by first channel",
            ["channel"],
            registry=registry,
        )
        self.fcr = Counter(
            "ticketrouter_first_contact_resolutions_total",
            "Cases resolved on first contact with no handoff (provisional)",
            ["channel"],
            registry=registry,
        )
        self.fcr_revoked = Counter(
            "ticketrouter_fcr_revocations_total",
            "First-contact credits revoked by a repeat contact",
            ["channel"],
            registry=registry,
        )
        self.latency = Histogram(
            "ticketrouter_routing_latency_seconds",
            "Contact event time to routing decision",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "ticketrouter_queue_wait_seconds",
            "Time a case waited in queue before an agent took it",
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "ticketrouter_queue_depth", "Cases waiting for an agent", registry=registry
        )
        self.agents_available = Gauge(
            "ticketrouter_agents_available", "Agents whose presence is available", registry=registry
        )
        self.dlq = Counter(
            "ticketrouter_dlq_messages_total",
            "Events rejected to the dead-letter topic, by reason",
            ["reason"],
            registry=registry,
        )
        for channel in channels:
            for family in (self.contacts, self.resolved, self.fcr, self.fcr_revoked):
                family.labels(channel=channel)
        for outcome in Outcome:
            self.decisions.labels(outcome=outcome.value)
        for reason in HandoffReason:
            self.handoffs.labels(reason=reason.value)
        for dlq_reason in DLQ_REASONS:
            self.dlq.labels(reason=dlq_reason)

    def record(self, event: Event, now: datetime) -> None:
        match event:
            case ContactReceived(channel=channel):
                self.contacts.labels(channel=channel.value).inc()
            case CaseRouted(decision=decision):
                self.decisions.labels(outcome=decision.outcome.value).inc()
                if decision.event_id:
                    # Until the decision is committed (now), not just computed: in a batch
                    # the commit comes after every contact in it has been routed.
                    self.latency.observe(_seconds(now - decision.event_time))
                else:
                    self.queue_wait.observe(_seconds(decision.decided_at - decision.event_time))
            case HandoffRecorded(reason=reason):
                self.handoffs.labels(reason=reason.value).inc()
            case CaseResolved(channel=channel, first_contact_resolved=fcr):
                self.resolved.labels(channel=channel.value).inc()
                if fcr:
                    self.fcr.labels(channel=channel.value).inc()
            case FirstContactRevoked(channel=channel):
                self.fcr_revoked.labels(channel=channel.value).inc()

    def dead_lettered(self, reason: str) -> None:
        self.dlq.labels(reason=reason if reason in DLQ_REASONS else "invalid_value").inc()

    def set_gauges(self, queue_depth: int, agents_available: int) -> None:
        self.queue_depth.set(queue_depth)
        self.agents_available.set(agents_available)


def _seconds(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds())
