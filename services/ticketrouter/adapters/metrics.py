"""Prometheus metrics (prefix ticketrouter_), built against an injected registry.

Labels come only from closed sets (channel, outcome, reason, configured teams,
rule names, partition numbers): never a customer, case or agent id. Known label
values are pre-initialised so that rates exist from zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeHistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ticketrouter.adapters.codec import KNOWN_TYPES
from ticketrouter.adapters.dlq_reasons import DLQ_REASONS
from ticketrouter.domain.cases import HandoffReason, OfferOutcome
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.decisions import Outcome
from ticketrouter.domain.events import (
    CaseResolved,
    CaseRouted,
    ContactAbandoned,
    ContactReceived,
    CustomersMerged,
    Event,
    FirstContactRevoked,
    HandoffRecorded,
    IdentityConflictReported,
    OfferEnded,
    ResolutionMatured,
    SurveyCounted,
)
from ticketrouter.domain.fairness import (
    NO_SPREAD,
    OCCUPANCY_BUCKETS,
    FairnessFigures,
    OccupancyDistribution,
)
from ticketrouter.domain.merging import ConflictReason
from ticketrouter.domain.reports import ChannelStaffing, QueueStat
from ticketrouter.domain.surveys import SCORES, HandoffBand, SurveyAnswer
from ticketrouter.service_layer.ports import MetricsPort

# Routing is fast when an agent is free; the long tail is queueing and broker lag.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Offers are answered within seconds, or lapse at the timeout (30 s by default).
OFFER_BUCKETS = (1, 2.5, 5, 10, 15, 20, 30, 45, 60, 120, 300)
WAIT_BUCKETS = (1, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
QUEUE = "queue"  # the to_team of a handoff that left the case waiting
OTHER = "other"  # a team or rule outside the configured closed set


def _counter(registry: CollectorRegistry, name: str, doc: str, *labels: str) -> Counter:
    return Counter(name, doc, list(labels), registry=registry)


def _gauge(registry: CollectorRegistry, name: str, doc: str, *labels: str) -> Gauge:
    return Gauge(name, doc, list(labels), registry=registry)


class PrometheusMetrics(MetricsPort):
    def __init__(
        self,
        registry: CollectorRegistry,
        teams: Sequence[str] = (),
        rules: Sequence[str] = (),
    ) -> None:
        self.registry = registry
        self.teams = frozenset(teams)
        self.rules = frozenset(rules)
        r = registry
        self.contacts = _counter(
            r, "ticketrouter_contacts_received_total", "Contacts received, by channel", "channel"
        )
        self.decisions = _counter(
            r, "ticketrouter_routing_decisions_total", "Routing decisions, by outcome", "outcome"
        )
        self.handoffs = _counter(
            r,
            "ticketrouter_handoffs_total",
            "Cases handed from one agent to another, by reason",
            "reason",
        )
        self.team_handoffs = _counter(
            r,
            "ticketrouter_handoffs_by_team_total",
            "Handoffs by team pair (to_team=queue: left waiting)",
            "from_team",
            "to_team",
        )
        self.resolved = _counter(
            r,
            "ticketrouter_cases_resolved_total",
            "Resolutions, by the case's first channel",
            "channel",
        )
        self.fcr = _counter(
            r,
            "ticketrouter_first_contact_resolutions_total",
            "Resolutions within the first contact and without handoff "
            "(provisional: see revocations)",
            "channel",
        )
        self.fcr_revoked = _counter(
            r,
            "ticketrouter_fcr_revocations_total",
            "First-contact credits revoked by a repeat contact",
            "channel",
        )
        self.matured = _counter(
            r,
            "ticketrouter_resolutions_matured_total",
            "Resolutions whose FCR window closed (counted once, by one process), by the "
            "case's first channel",
            "channel",
        )
        self.fcr_matured = _counter(
            r,
            "ticketrouter_first_contact_resolutions_matured_total",
            "Of the resolutions matured, those first-contact resolved (final: no repeat "
            "contact inside the FCR window)",
            "channel",
        )
        self.resolved_handed_off = _counter(
            r,
            "ticketrouter_cases_resolved_with_handoff_total",
            "Resolutions of cases that had a handoff",
            "channel",
        )
        self.resolved_handoffs = _counter(
            r,
            "ticketrouter_resolved_case_handoffs_total",
            "Handoffs of the cases resolved",
            "channel",
        )
        # Labels of both CSAT counters: the case's state when the customer answered.
        csat_labels = ("channel", "score", "handoffs", "first_contact")
        self.csat = _counter(
            r,
            "ticketrouter_csat_responses_total",
            "CSAT answers counted, by the case's first channel, score (1-5), handoffs "
            "(0, 1, 2+) and first-contact resolved when the customer answered",
            *csat_labels,
        )
        self.csat_replaced = _counter(
            r,
            "ticketrouter_csat_responses_replaced_total",
            "CSAT answers replaced by a later answer for the same case, under the labels "
            "they were counted with (answers in force = responses - replaced)",
            *csat_labels,
        )
        self.offers = _counter(
            r,
            "ticketrouter_offers_total",
            "Offers (reservations for one agent) by how they ended: accepted, declined, "
            "lapsed (unanswered) or withdrawn (the agent or the customer left), by the channel "
            "offered on",
            "channel",
            "outcome",
        )
        self.offer_answer = Histogram(
            "ticketrouter_offer_answer_seconds",
            "Time from an offer to its end, by how it ended",
            ["outcome"],
            buckets=OFFER_BUCKETS,
            registry=r,
        )
        self.abandoned = _counter(
            r,
            "ticketrouter_contacts_abandoned_total",
            "Contacts whose customer left before an agent took them, with nobody else of "
            "theirs waiting on the case, by the contact's channel",
            "channel",
        )
        self.abandon_wait = Histogram(
            "ticketrouter_queue_abandon_seconds",
            "Time an abandoned case waited, from joining the queue to the customer leaving",
            ["channel"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.dlq = _counter(
            r,
            "ticketrouter_dlq_messages_total",
            "Events rejected to the dead-letter topic, by reason",
            "reason",
        )
        self.unknown_fields = _counter(
            r,
            "ticketrouter_events_with_unknown_fields_total",
            "Events accepted although they carried fields the contract does not know "
            "(ignored; the worker logs their names), by event type",
            "event_type",
        )
        self.merges = _counter(
            r,
            "ticketrouter_customer_merges_total",
            "Customers merged into another, by how (auto: one event carried both; manual)",
            "how",
        )
        self.identity_conflicts = _counter(
            r,
            "ticketrouter_identity_conflicts_total",
            "Events whose identities were not merged automatically, by reason",
            "reason",
        )
        self.latency = Histogram(
            "ticketrouter_routing_latency_seconds",
            "Contact event time to its committed routing decision",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "ticketrouter_queue_wait_seconds",
            "Time a case waited in queue before an agent took it",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.queue_depth = _gauge(
            r, "ticketrouter_queue_depth", "Cases waiting for an agent, by rule", "rule"
        )
        self.longest_wait = _gauge(
            r,
            "ticketrouter_queue_longest_wait_seconds",
            "Longest current wait in queue, by rule",
            "rule",
        )
        self.agents_available = _gauge(
            r, "ticketrouter_agents_available", "Available agents who work the channel", "channel"
        )
        self.occupancy = _gauge(
            r,
            "ticketrouter_agent_occupancy_ratio",
            "Load over capacity of the available agents",
            "channel",
        )
        self.occupancy_spread = _OccupancyCollector()
        r.register(self.occupancy_spread)
        self.team_gini = _gauge(
            r,
            "ticketrouter_team_assignment_gini",
            "Gini coefficient of the assignments per agent over the fairness window, by "
            "team (0: all equal; agents on shift without an assignment count as zero)",
            "team",
        )
        self.team_busiest = _gauge(
            r,
            "ticketrouter_team_assignment_busiest_to_median_ratio",
            "Assignments of the team's busiest agent over the fairness window, over the "
            "team's median (a median under 1 counts as 1)",
            "team",
        )
        self.team_agents = _gauge(
            r,
            "ticketrouter_team_agents_counted",
            "Agents the team's assignment spread counts: on shift, or assigned in the window",
            "team",
        )
        self.team_longest_busy = _gauge(
            r,
            "ticketrouter_team_longest_busy_seconds",
            "How long the team's agent longest at work without a pause (some slot "
            "holding work all along) has been so",
            "team",
        )
        self.consumer_lag = _gauge(
            r, "ticketrouter_consumer_lag", "Events not yet processed, by partition", "partition"
        )
        self.batch_age = Gauge(
            "ticketrouter_worker_batch_age_seconds",
            "Seconds the worker's batch in hand has waited to be committed (0 between "
            "batches; grows while the worker is stalled)",
            registry=r,
        )
        self.build = _gauge(r, "ticketrouter_build_info", "Running version", "version")
        self._lag_partitions: set[str] = set()
        self._preinitialise()

    def _preinitialise(self) -> None:
        for channel in (c.value for c in Channel):
            for family in (
                self.contacts,
                self.resolved,
                self.fcr,
                self.fcr_revoked,
                self.matured,
                self.fcr_matured,
                self.resolved_handed_off,
                self.resolved_handoffs,
            ):
                family.labels(channel=channel)
            self.agents_available.labels(channel=channel)
            self.occupancy.labels(channel=channel)
            self.abandoned.labels(channel=channel)
            self.abandon_wait.labels(channel=channel)
            for score in SCORES:
                for band, first_contact in _CSAT_STATES:
                    for family in (self.csat, self.csat_replaced):
                        family.labels(channel, str(score), band.value, first_contact)
            for ended in OfferOutcome:
                self.offers.labels(channel=channel, outcome=ended.value)
        for ended in OfferOutcome:
            self.offer_answer.labels(outcome=ended.value)
        for outcome in Outcome:
            self.decisions.labels(outcome=outcome.value)
        for reason in HandoffReason:
            self.handoffs.labels(reason=reason.value)
        for dlq_reason in DLQ_REASONS:
            self.dlq.labels(reason=dlq_reason)
        for event_type in sorted(KNOWN_TYPES):
            self.unknown_fields.labels(event_type=event_type)
        for how in ("auto", "manual"):
            self.merges.labels(how=how)
        for conflict in ConflictReason:
            self.identity_conflicts.labels(reason=conflict.value)
        teams = [*sorted(self.teams), OTHER]
        for from_team in teams:
            for to_team in [*teams, QUEUE]:
                self.team_handoffs.labels(from_team=from_team, to_team=to_team)
        for team in teams:
            for gauge in self._team_families():
                gauge.labels(team=team)
        for rule in self._rule_labels():
            self.queue_depth.labels(rule=rule)
            self.longest_wait.labels(rule=rule)
        self.build.labels(version=_version()).set(1)

    def _rule_labels(self) -> list[str]:
        return [*sorted(self.rules), OTHER]

    def team_label(self, team: str) -> str:
        """The label a team counts under: configured teams by name, others as one."""
        return team if team in self.teams else OTHER

    def _team_families(self) -> tuple[Gauge, ...]:
        return (self.team_gini, self.team_busiest, self.team_agents, self.team_longest_busy)

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
            case HandoffRecorded(reason=reason, from_team=from_team, to_team=to_team):
                self.handoffs.labels(reason=reason.value).inc()
                self.team_handoffs.labels(
                    from_team=self.team_label(from_team),
                    to_team=self.team_label(to_team) if to_team else QUEUE,
                ).inc()
            case CaseResolved(channel=channel, first_contact_resolved=fcr, handoffs=handoffs):
                self.resolved.labels(channel=channel.value).inc()
                if fcr:
                    self.fcr.labels(channel=channel.value).inc()
                if handoffs:
                    self.resolved_handed_off.labels(channel=channel.value).inc()
                    self.resolved_handoffs.labels(channel=channel.value).inc(handoffs)
            case FirstContactRevoked(channel=channel):
                self.fcr_revoked.labels(channel=channel.value).inc()
            case ResolutionMatured(channel=channel, first_contact_resolved=fcr):
                self.matured.labels(channel=channel.value).inc()
                if fcr:
                    self.fcr_matured.labels(channel=channel.value).inc()
            case SurveyCounted(answer=answer, replaces=earlier):
                if earlier is not None:
                    self.csat_replaced.labels(*_csat_labels(earlier)).inc()
                self.csat.labels(*_csat_labels(answer)).inc()
            case ContactAbandoned(channel=channel, waited_seconds=waited):
                self.abandoned.labels(channel=channel.value).inc()
                self.abandon_wait.labels(channel=channel.value).observe(waited)
            case OfferEnded(channel=channel, outcome=ended, seconds=seconds):
                self.offers.labels(channel=channel.value, outcome=ended.value).inc()
                self.offer_answer.labels(outcome=ended.value).observe(seconds)
            case CustomersMerged(manual=manual):
                self.merges.labels(how="manual" if manual else "auto").inc()
            case IdentityConflictReported(reason=conflict):
                self.identity_conflicts.labels(reason=conflict.value).inc()

    def dead_lettered(self, reason: str) -> None:
        self.dlq.labels(reason=reason if reason in DLQ_REASONS else "invalid_value").inc()

    def unknown_fields_ignored(self, event_type: str) -> None:
        # Only accepted events get here, so the type is one of the known ones.
        known = event_type if event_type in KNOWN_TYPES else "other"
        self.unknown_fields.labels(event_type=known).inc()

    def set_gauges(
        self, queue: Mapping[str, QueueStat], staffing: Mapping[Channel, ChannelStaffing]
    ) -> None:
        by_rule: dict[str, QueueStat] = {}
        for rule, stat in queue.items():
            label = rule if rule in self.rules else OTHER
            known = by_rule.get(label, QueueStat(0, 0.0))
            by_rule[label] = QueueStat(
                known.depth + stat.depth, max(known.longest_wait_seconds, stat.longest_wait_seconds)
            )
        for rule in self._rule_labels():
            stat = by_rule.get(rule, QueueStat(0, 0.0))
            self.queue_depth.labels(rule=rule).set(stat.depth)
            self.longest_wait.labels(rule=rule).set(stat.longest_wait_seconds)
        for channel in Channel:
            staffed = staffing.get(channel, ChannelStaffing(0, 0, 0))
            self.agents_available.labels(channel=channel.value).set(staffed.available)
            self.occupancy.labels(channel=channel.value).set(staffed.occupancy)

    def set_fairness(self, figures: FairnessFigures) -> None:
        """Occupancy by channel and the spread of work by team, as recomputed from the
        database; teams and channels without agents read zero."""
        self.occupancy_spread.distributions = dict(figures.occupancy)
        for team in [*sorted(self.teams), OTHER]:
            spread = figures.teams.get(team, NO_SPREAD)
            self.team_gini.labels(team=team).set(spread.gini)
            self.team_busiest.labels(team=team).set(spread.busiest_to_median)
            self.team_agents.labels(team=team).set(spread.agents)
            self.team_longest_busy.labels(team=team).set(spread.longest_busy_seconds)

    def set_batch_age(self, seconds: float) -> None:
        self.batch_age.set(seconds)

    def set_consumer_lag(self, lag_by_partition: Mapping[int, int]) -> None:
        """The partitions this process owns now; any other one it reported is dropped."""
        current = {str(p) for p in lag_by_partition}
        for gone in self._lag_partitions - current:
            self.consumer_lag.remove(gone)
        for partition, lag in lag_by_partition.items():
            self.consumer_lag.labels(partition=str(partition)).set(lag)
        self._lag_partitions = current


class _OccupancyCollector(Collector):
    """The available agents' occupancy by channel, as a gauge histogram: a snapshot of
    how many agents are at or below each occupancy, replaced at each refresh (a
    histogram that accumulates would count the same agents every refresh)."""

    def __init__(self) -> None:
        self.distributions: dict[Channel, OccupancyDistribution] = {}

    def collect(self) -> list[Metric]:
        family = GaugeHistogramMetricFamily(
            "ticketrouter_agent_occupancy_distribution_ratio",
            "Available agents by their load over capacity on a channel they work "
            "(bucket le: agents at or below that occupancy)",
            labels=["channel"],
        )
        for channel in Channel:
            spread = self.distributions.get(channel, OccupancyDistribution())
            buckets = [
                (str(edge), n) for edge, n in zip(OCCUPANCY_BUCKETS, spread.counts, strict=True)
            ]
            family.add_metric(
                [channel.value],
                [*buckets, ("+Inf", spread.total)],
                gsum_value=spread.occupancy_sum,
            )
        return [family]


# The states an answer can be counted in: first-contact resolved only without handoffs.
_CSAT_STATES = (
    (HandoffBand.NONE, "true"),
    (HandoffBand.NONE, "false"),
    (HandoffBand.ONE, "false"),
    (HandoffBand.MORE, "false"),
)


def _csat_labels(answer: SurveyAnswer) -> tuple[str, str, str, str]:
    first_contact = "true" if answer.first_contact else "false"
    return answer.channel.value, str(answer.score), answer.band.value, first_contact


def _seconds(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds())


def _version() -> str:
    try:
        return metadata.version("ticketrouter")
    except metadata.PackageNotFoundError:
        return "unknown"
