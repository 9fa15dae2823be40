from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from ticketrouter.adapters.metrics import PrometheusMetrics
from ticketrouter.domain.cases import HandoffReason
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.decisions import Decision, Explanation, Outcome
from ticketrouter.domain.events import (
    CaseResolved,
    CaseRouted,
    ContactReceived,
    FirstContactRevoked,
    HandoffRecorded,
    ResolutionMatured,
    SurveyCounted,
)
from ticketrouter.domain.reports import ChannelStaffing, QueueStat
from ticketrouter.domain.requirements import Requirements
from ticketrouter.domain.surveys import SurveyAnswer

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _decision(event_id: str, waited: timedelta, outcome: Outcome) -> Decision:
    return Decision(
        "d",
        event_id,
        "case-123",
        "customer-456",
        outcome,
        "agent-789",
        Channel.CHAT,
        "t",
        0,
        Explanation("r", Requirements(), Channel.CHAT),
        T0 + waited,
        T0,
    )


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None, name
    return value


def test_events_become_counters_with_closed_labels() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry, teams=["billing"], rules=["refunds"])
    committed = T0 + timedelta(milliseconds=40)
    for event in [
        ContactReceived(Channel.CHAT),
        # decided 20 ms after the event, committed 40 ms after it: latency runs to the commit
        CaseRouted(_decision("e1", timedelta(milliseconds=20), Outcome.ASSIGNED)),
        CaseRouted(_decision("", timedelta(seconds=90), Outcome.ASSIGNED)),
        HandoffRecorded("case-123", HandoffReason.ESCALATION, "billing"),
        CaseResolved("case-123", Channel.CHAT, True),
        CaseResolved("case-124", Channel.CHAT, False, handoffs=2),
        FirstContactRevoked("case-123", Channel.CHAT),
        ResolutionMatured(Channel.CHAT, True),
        ResolutionMatured(Channel.CHAT, False),
    ]:
        metrics.record(event, committed)
    metrics.dead_lettered("bad_json")
    metrics.set_gauges(
        {"refunds": QueueStat(3, 40.0), "retired-rule": QueueStat(1, 5.0)},
        {Channel.CHAT: ChannelStaffing(available=7, load=3, capacity=12)},
    )
    assert _value(registry, "ticketrouter_contacts_received_total", channel="chat") == 1
    assert _value(registry, "ticketrouter_routing_decisions_total", outcome="assigned") == 2
    assert _value(registry, "ticketrouter_handoffs_total", reason="escalation") == 1
    assert _value(registry, "ticketrouter_cases_resolved_total", channel="chat") == 2
    assert _value(registry, "ticketrouter_first_contact_resolutions_total", channel="chat") == 1
    assert _value(registry, "ticketrouter_fcr_revocations_total", channel="chat") == 1
    assert _value(registry, "ticketrouter_resolutions_matured_total", channel="chat") == 2
    assert (
        _value(registry, "ticketrouter_first_contact_resolutions_matured_total", channel="chat")
        == 1
    )
    assert _value(registry, "ticketrouter_routing_latency_seconds_count") == 1
    assert _value(registry, "ticketrouter_routing_latency_seconds_bucket", le="0.025") == 0
    assert _value(registry, "ticketrouter_routing_latency_seconds_bucket", le="0.05") == 1
    assert _value(registry, "ticketrouter_queue_wait_seconds_bucket", le="60.0") == 0
    assert _value(registry, "ticketrouter_queue_wait_seconds_bucket", le="120.0") == 1
    assert _value(registry, "ticketrouter_dlq_messages_total", reason="bad_json") == 1
    assert _value(registry, "ticketrouter_queue_depth", rule="refunds") == 3
    assert _value(registry, "ticketrouter_queue_depth", rule="other") == 1
    assert _value(registry, "ticketrouter_queue_longest_wait_seconds", rule="refunds") == 40
    assert _value(registry, "ticketrouter_agents_available", channel="chat") == 7
    assert _value(registry, "ticketrouter_agent_occupancy_ratio", channel="chat") == 0.25
    assert (
        _value(
            registry, "ticketrouter_handoffs_by_team_total", from_team="billing", to_team="queue"
        )
        == 1
    )
    assert _value(registry, "ticketrouter_cases_resolved_with_handoff_total", channel="chat") == 1
    assert _value(registry, "ticketrouter_resolved_case_handoffs_total", channel="chat") == 2
    exposition = generate_latest(registry).decode()
    for identifier in ("case-123", "customer-456", "agent-789"):
        assert identifier not in exposition


def test_known_label_values_exist_from_zero() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry)
    assert _value(registry, "ticketrouter_handoffs_total", reason="missing_authority") == 0
    assert _value(registry, "ticketrouter_first_contact_resolutions_total", channel="store") == 0
    assert _value(registry, "ticketrouter_resolutions_matured_total", channel="store") == 0
    assert (
        _value(registry, "ticketrouter_first_contact_resolutions_matured_total", channel="web") == 0
    )


def test_a_replaced_csat_answer_is_counted_again_under_its_own_labels() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    first = SurveyAnswer("s1", "case-1", Channel.CHAT, 5, 0, True, T0)
    later = SurveyAnswer("s2", "case-1", Channel.CHAT, 2, 2, False, T0)
    for event in (SurveyCounted(first), SurveyCounted(later, replaces=first)):
        metrics.record(event, T0)

    def csat(name: str, answer: SurveyAnswer) -> float:
        fc = "true" if answer.first_contact else "false"
        labels = {"score": str(answer.score), "handoffs": answer.band.value}
        return _value(registry, name, channel="chat", first_contact=fc, **labels)

    assert csat("ticketrouter_csat_responses_total", first) == 1
    assert csat("ticketrouter_csat_responses_replaced_total", first) == 1
    assert csat("ticketrouter_csat_responses_total", later) == 1
    assert later.band.value == "2+"
    assert csat("ticketrouter_csat_responses_replaced_total", later) == 0
