"""Domain objects to protobuf messages (shared by Kafka and gRPC edges)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.cases import Case
from ticketrouter.domain.customers import Contact, Customer
from ticketrouter.domain.decisions import Explanation
from ticketrouter.domain.requirements import Requirements
from ticketrouter.domain.surveys import CsatReport, CsatTally
from ticketrouter.domain.timeline import TimelineEntry
from ticketrouter.v1 import agents_pb2, customers_pb2, events_pb2, routing_pb2


def set_time(target: Timestamp, value: datetime | None) -> None:
    if value is not None:
        target.FromDatetime(value.astimezone(UTC).replace(tzinfo=None))


def requirements_to_proto(req: Requirements, channel: str = "") -> events_pb2.Requirements:
    message = events_pb2.Requirements(
        language=req.language or "", channel=channel, teams=sorted(req.teams)
    )
    for skill, level in req.skills:
        message.skills.add(skill=skill, min_proficiency=level)
    for need in req.authority:
        if need.must_be_true:
            message.authority.add(name=need.name, must_be_true=True)
        else:
            message.authority.add(name=need.name, at_least=need.at_least or 0.0)
    return message


def _tally(tally: CsatTally) -> routing_pb2.CsatTally:
    return routing_pb2.CsatTally(responses=tally.responses, points=tally.points, mean=tally.mean)


def csat_to_proto(report: CsatReport) -> routing_pb2.CsatReport:
    return routing_pb2.CsatReport(
        overall=_tally(report.overall),
        first_contact=_tally(report.first_contact),
        handed_off=_tally(report.handed_off),
        by_channel={c.value: _tally(t) for c, t in report.by_channel.items()},
        by_handoffs={b.value: _tally(t) for b, t in report.by_handoffs.items()},
    )


def explanation_to_proto(exp: Explanation) -> events_pb2.Explanation:
    return events_pb2.Explanation(
        rule=exp.rule,
        requirements=requirements_to_proto(exp.requirements, exp.channel.value),
        candidates_considered=exp.candidates_considered,
        eligible=exp.eligible,
        excluded_by_reason=exp.excluded_by_reason,
        winner_reason=exp.winner_reason,
        summary=exp.summary,
        policy_version=exp.policy_version,
        step=exp.step,
        strategy=exp.strategy,
        excluded_agents=[
            events_pb2.ExcludedAgent(agent_id=a, reason=r) for a, r in exp.excluded_agents
        ],
    )


def case_to_proto(
    case: Case, handoffs: list[tuple[str, str | None, str, datetime]] | None = None
) -> routing_pb2.Case:
    message = routing_pb2.Case(
        case_id=case.case_id,
        customer_id=case.customer_id,
        topic=case.topic,
        status=case.status.value,
        channel=case.channel.value,
        first_channel=case.first_channel.value,
        owner_agent_id=case.owner_agent_id or "",
        priority=case.priority,
        requirements=requirements_to_proto(case.requirements, case.channel.value),
        contact_count=case.contact_count,
        handoff_count=case.handoff_count,
        resolution_code=case.resolution_code,
        first_contact_resolved=case.first_contact_resolved,
    )
    set_time(message.opened_at, case.opened_at)
    set_time(message.queued_at, case.queued_at)
    set_time(message.assigned_at, case.assigned_at)
    set_time(message.resolved_at, case.resolved_at)
    if case.last_decision is not None:
        message.last_decision.CopyFrom(explanation_to_proto(case.last_decision))
    for from_agent, to_agent, reason, at in handoffs or []:
        handoff = message.handoffs.add(
            from_agent_id=from_agent, to_agent_id=to_agent or "", reason=reason
        )
        set_time(handoff.at, at)
    return message


def agent_to_proto(agent: Agent) -> agents_pb2.Agent:
    message = agents_pb2.Agent(
        agent_id=agent.agent_id,
        name=agent.name,
        team=agent.team,
        skills=dict(agent.skills),
        authority=dict(agent.authority),
        languages=sorted(agent.languages),
        presence=agent.presence.value,
        units=agent.units,
        units_used=agent.units_used(),
    )
    for channel in sorted(agent.capacity.keys() | agent.exclusive_channels):
        message.capacity.add(
            channel=channel.value,
            capacity=agent.capacity.get(channel, 0),
            load=agent.load.get(channel, 0),
            cost=agent.unit_costs.get(channel, 0),
            exclusive=channel in agent.exclusive_channels,
        )
    set_time(message.last_assigned_at, agent.last_assigned_at)
    return message


def contact_to_proto(contact: Contact) -> events_pb2.ContactSummary:
    message = events_pb2.ContactSummary(
        event_id=contact.event_id,
        case_id=contact.case_id,
        channel=contact.channel.value,
        topic=contact.topic,
        subject=contact.subject,
        outcome=contact.outcome,
    )
    set_time(message.occurred_at, contact.occurred_at)
    return message


def customer_to_proto(
    customer: Customer, contacts: list[Contact], open_case_ids: list[str]
) -> customers_pb2.Customer:
    message = customers_pb2.Customer(
        customer_id=customer.customer_id,
        display_name=customer.display_name,
        tier=customer.tier,
        language=customer.language,
        open_case_ids=open_case_ids,
    )
    for identity in customer.identities:
        message.identities.add(kind=identity.kind.value, value=identity.value)
    message.recent_contacts.extend(contact_to_proto(c) for c in contacts)
    return message


def timeline_item_to_proto(entry: TimelineEntry) -> customers_pb2.TimelineItem:
    item = customers_pb2.TimelineItem(
        kind=entry.kind.value, case_id=entry.case_id, channel=entry.channel, detail=entry.detail
    )
    set_time(item.at, entry.at)
    return item
