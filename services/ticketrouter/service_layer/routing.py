"""Route contacts to cases and cases to empowered agents (DESIGN.md routing semantics)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.cases import Case, CaseStatus, HandoffReason
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.commands import ReceiveContact
from ticketrouter.domain.customers import Contact
from ticketrouter.domain.decisions import Decision, Explanation, Outcome
from ticketrouter.domain.events import (
    CaseRouted,
    ContactReceived,
    FirstContactRevoked,
)
from ticketrouter.domain.matching import (
    assignment_summary,
    best_case_for,
    exclusion,
    rank_agents,
)
from ticketrouter.domain.plan import Strategy
from ticketrouter.domain.timeline import EntryKind, TimelineEntry
from ticketrouter.service_layer.history import note_on_timeline, record_handoff
from ticketrouter.service_layer.identities import resolve_customer
from ticketrouter.service_layer.policies import facts_for
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.settings import MAX_PULLS, PULL_WINDOW, RoutingSettings


def receive_contact(
    cmd: ReceiveContact, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Decision:
    repo = uow.repo
    uow.emit(ContactReceived(cmd.channel))
    customer_id, new_customer = resolve_customer(
        uow, cmd.identities, now, settings.identities, cmd.event_id, cmd.display_name, cmd.language
    )
    # A customer seen for the first time has no cases: skip the lookups.
    case = None if new_customer else repo.open_case_for(customer_id, cmd.topic)
    if case is not None:
        case.attach_contact(cmd.channel, cmd.event_id)
        decision = _continue_case(uow, case, cmd, now, settings)
        repo.save_case(case)
    else:
        reopened = None if new_customer else _reopen(uow, customer_id, cmd, now, settings)
        case = reopened or _open(uow, customer_id, new_customer, cmd, now, settings)
        decision = route_case(
            uow,
            case,
            cmd.channel,
            now,
            settings,
            cmd,
            preferred=_known_agent(uow, case, reopened, new_customer),
        )
        # A new case is inserted once, already routed, rather than inserted then updated.
        if reopened:
            repo.save_case(case)
        else:
            repo.add_case(case)
    outcome = decision.outcome.value + (f" to {decision.agent_id}" if decision.agent_id else "")
    repo.record(
        TimelineEntry(
            customer_id,
            cmd.occurred_at,
            EntryKind.CONTACT,
            case.case_id,
            cmd.channel.value,
            f"{cmd.topic}: {cmd.subject} ({outcome})",
        )
    )
    repo.add_contact(
        Contact(
            cmd.event_id,
            customer_id,
            case.case_id,
            cmd.channel,
            cmd.topic,
            cmd.subject,
            cmd.occurred_at,
            decision.outcome.value,
        )
    )
    uow.emit(CaseRouted(decision))
    return decision


def _known_agent(
    uow: UnitOfWork, case: Case, reopened: Case | None, new_customer: bool
) -> str | None:
    """Relationship: the agent who last worked this case, or who last resolved one of
    this customer's cases, is preferred when eligible (if the rule wants it)."""
    if reopened is not None:
        return reopened.owner_agent_id
    if new_customer or case.plan is None or not case.plan.prefer_relationship:
        return None
    return uow.repo.last_resolver(case.customer_id)


def _reopen(
    uow: UnitOfWork,
    customer_id: str,
    cmd: ReceiveContact,
    now: datetime,
    settings: RoutingSettings,
) -> Case | None:
    """A repeat contact inside the FCR window reopens the case instead of duplicating it.

    The reopened case keeps its last owner in `owner_agent_id` until it is routed,
    so routing can prefer the agent who knows the customer.
    """
    previous = uow.repo.last_resolved_case(customer_id, cmd.topic)
    if previous is None or not previous.within_fcr_window(cmd.occurred_at, settings.fcr_window):
        return None
    last_owner = previous.owner_agent_id
    if previous.reopen(cmd.channel, now, cmd.event_id) and uow.repo.revoke_resolution(
        previous.case_id
    ):
        uow.emit(FirstContactRevoked(previous.case_id, previous.first_channel))
    note_on_timeline(uow, previous, EntryKind.REOPENED, now, "repeat contact inside the FCR window")
    previous.owner_agent_id = last_owner
    return previous


def _open(
    uow: UnitOfWork,
    customer_id: str,
    new_customer: bool,
    cmd: ReceiveContact,
    now: datetime,
    settings: RoutingSettings,
) -> Case:
    known = None if new_customer else customer_id
    policy = settings.policy
    facts = facts_for(uow, cmd, known, policy.needs_customer, settings.context, cmd.occurred_at)
    plan = policy.plan_for(facts)
    return Case(
        case_id=uuid.uuid4().hex,
        customer_id=customer_id,
        topic=cmd.topic,
        rule=plan.rule,
        requirements=plan.requirements,
        priority=plan.priority,
        status=CaseStatus.QUEUED,
        channel=cmd.channel,
        first_channel=cmd.channel,
        opened_at=now,
        queued_at=now,
        plan=plan,
        live_contacts=((cmd.event_id, cmd.channel),),
    )


def _continue_case(
    uow: UnitOfWork, case: Case, cmd: ReceiveContact, now: datetime, settings: RoutingSettings
) -> Decision:
    """Continuity first: a follow-up goes back to the owner of the open case."""
    if case.status is CaseStatus.OFFERED and case.owner_agent_id is not None:
        # The offer stands: the agent it went to gets the follow-up with it.
        explanation = _owner_explanation(case, cmd.channel, settings)
        summary = f"joined the case offered to {case.owner_agent_id}"
        return decide(
            case, cmd, Outcome.REJOINED_CASE, case.owner_agent_id, explanation, now, summary
        )
    if case.status is CaseStatus.PENDING and case.owner_agent_id is not None:
        return _back_from_pending(uow, case, cmd, now, settings)
    if case.status is not CaseStatus.ASSIGNED or case.owner_agent_id is None:
        return route_case(uow, case, cmd.channel, now, settings, cmd)
    repo = uow.repo
    explanation = _owner_explanation(case, cmd.channel, settings)

    def rejoin(agent_id: str, summary: str) -> Decision:
        return decide(case, cmd, Outcome.REJOINED_CASE, agent_id, explanation, now, summary)

    if cmd.channel is case.channel:
        return rejoin(case.owner_agent_id, f"joined the case owned by {case.owner_agent_id}")
    owner = repo.get_agent(case.owner_agent_id)  # only a change of channel needs them
    if (
        owner is not None
        and exclusion(owner, case.requirements, cmd.channel) is None
        and repo.reserve_capacity(owner.agent_id, cmd.channel, now)
    ):
        repo.release_capacity(owner.agent_id, case.channel)
        case.assign(owner.agent_id, cmd.channel, now)
        return rejoin(owner.agent_id, f"back to owner {owner.agent_id}, now on {cmd.channel}")
    if owner is not None and owner.presence in (Presence.AVAILABLE, Presence.BUSY):
        # Waiting for the owner beats handing the customer to a stranger.
        return rejoin(owner.agent_id, f"owner {owner.agent_id} busy on {cmd.channel}; keeps it")
    former = case.hand_off()
    repo.release_capacity(former, case.channel)
    return _hand_on(uow, case, former, owner, cmd, now, settings)


def _back_from_pending(
    uow: UnitOfWork, case: Case, cmd: ReceiveContact, now: datetime, settings: RoutingSettings
) -> Decision:
    """Continuity after a contact ended: the customer came back to a case that waits
    with its owner, who takes it again on the new contact's channel when they can (the
    slot a wrap-up still holds on that channel serves). An owner who cannot (away, or
    full on that channel) hands it on, as when an owner is away for a follow-up."""
    repo = uow.repo
    owner_id = case.owner_agent_id
    assert owner_id is not None
    explanation = _owner_explanation(case, cmd.channel, settings)
    held = case.holds_slot
    owner = repo.get_agent(owner_id)
    present = owner is not None and owner.presence is Presence.AVAILABLE
    if held and present and cmd.channel is case.channel:
        case.assign(owner_id, cmd.channel, now)
        summary = f"back to owner {owner_id}, on the slot of their wrap-up"
        return decide(case, cmd, Outcome.REJOINED_CASE, owner_id, explanation, now, summary)
    if (
        owner is not None
        and exclusion(owner, case.requirements, cmd.channel) is None
        and repo.reserve_capacity(owner_id, cmd.channel, now)
    ):
        if held:
            repo.release_capacity(owner_id, case.channel)
        case.assign(owner_id, cmd.channel, now)
        summary = f"back to owner {owner_id} on {cmd.channel}"
        return decide(case, cmd, Outcome.REJOINED_CASE, owner_id, explanation, now, summary)
    if held:
        repo.release_capacity(owner_id, case.channel)
    former = case.hand_off(pending_too=True)
    return _hand_on(uow, case, former, owner, cmd, now, settings)


def _hand_on(
    uow: UnitOfWork,
    case: Case,
    former: str,
    owner: Agent | None,
    cmd: ReceiveContact,
    now: datetime,
    settings: RoutingSettings,
) -> Decision:
    """The owner cannot take the customer's new contact: anyone else may (a handoff)."""
    decision = route_case(
        uow,
        case,
        cmd.channel,
        now,
        settings,
        cmd,
        excluded=frozenset({former}),
        assigned_outcome=Outcome.REASSIGNED,
    )
    record_handoff(uow, case, former, owner, HandoffReason.OTHER, now)
    return decision


def _owner_explanation(case: Case, channel: Channel, settings: RoutingSettings) -> Explanation:
    return Explanation(
        rule=case.rule,
        requirements=case.requirements,
        channel=channel,
        candidates_considered=1,
        eligible=1,
        winner_reason="continuity",
        policy_version=settings.policy.version,
    )


def route_case(
    uow: UnitOfWork,
    case: Case,
    channel: Channel,
    now: datetime,
    settings: RoutingSettings,
    cmd: ReceiveContact | None,
    preferred: str | None = None,
    excluded: frozenset[str] = frozenset(),
    assigned_outcome: Outcome = Outcome.ASSIGNED,
) -> Decision:
    """Find the best empowered agent and reserve them atomically (an offer, when offers
    are on), or queue the case."""
    repo = uow.repo
    case.relax(now)
    plan = case.plan
    ranking = rank_agents(
        case.requirements,
        channel,
        repo.available_agents(channel),
        case.rule,
        excluded | frozenset(case.declined_by),
        settings.policy.version if plan is None else plan.policy_version,
        plan.strategy if plan is not None else Strategy.LEAST_OCCUPIED,
        case.step,
    )
    for rank, agent in enumerate(ranking.in_order(preferred)):
        if repo.reserve_capacity(agent.agent_id, channel, now):
            reason = ranking.explanation.winner_reason
            if agent.agent_id == preferred:
                reason = "relationship: the agent who last handled this customer's case"
            elif rank > 0:
                reason = f"{reason}; {rank} better choice(s) were taken meanwhile"
            explanation = replace(
                ranking.explanation,
                winner_reason=reason,
                summary=assignment_summary(agent.agent_id, case.requirements, channel),
            )
            outcome = _give(case, agent.agent_id, channel, now, settings, assigned_outcome)
            return decide(case, cmd, outcome, agent.agent_id, explanation, now)
    case.queue(now)
    return decide(case, cmd, Outcome.QUEUED, None, ranking.explanation, now)


def _give(
    case: Case,
    agent_id: str,
    channel: Channel,
    now: datetime,
    settings: RoutingSettings,
    assigned_outcome: Outcome,
) -> Outcome:
    """Assign at once, or offer until the agent accepts (a reservation)."""
    if settings.offer_timeout > timedelta(0):
        case.offer(agent_id, channel, now, now + settings.offer_timeout)
        return Outcome.OFFERED
    case.assign(agent_id, channel, now)
    return assigned_outcome


def decide(
    case: Case,
    cmd: ReceiveContact | None,
    outcome: Outcome,
    agent_id: str | None,
    explanation: Explanation,
    now: datetime,
    summary: str | None = None,
) -> Decision:
    if summary is not None:
        explanation = replace(explanation, summary=summary)
    case.last_decision = explanation
    return Decision(
        decision_id=uuid.uuid4().hex,
        event_id=cmd.event_id if cmd else "",
        case_id=case.case_id,
        customer_id=case.customer_id,
        outcome=outcome,
        agent_id=agent_id,
        channel=case.channel,
        topic=case.topic,
        priority=case.priority,
        explanation=explanation,
        decided_at=now,
        event_time=cmd.occurred_at if cmd else (case.queued_at or now),
    )


def pull_waiting_cases(
    uow: UnitOfWork,
    agent_id: str,
    now: datetime,
    settings: RoutingSettings,
    skip: frozenset[str] = frozenset(),
) -> list[Decision]:
    """Both directions: an agent who frees capacity or comes online pulls waiting work."""
    repo = uow.repo
    decisions: list[Decision] = []
    for _ in range(MAX_PULLS):
        agent = repo.get_agent(agent_id)
        if agent is None or agent.presence is not Presence.AVAILABLE:
            break
        waiting = repo.queued_cases(PULL_WINDOW)
        for candidate in waiting:
            candidate.relax(now)  # steps due since the last tick count already
        case = best_case_for(agent, waiting, skip, settings.aging_per_minute)
        if case is None or not repo.reserve_capacity(agent.agent_id, case.channel, now):
            break
        waited = now - (case.queued_at or now)
        outcome = _give(case, agent.agent_id, case.channel, now, settings, Outcome.ASSIGNED)
        explanation = Explanation(
            rule=case.rule,
            requirements=case.requirements,
            channel=case.channel,
            candidates_considered=1,
            eligible=1,
            winner_reason="pulled the highest-ranked waiting case on freeing capacity",
            summary=f"{agent.agent_id} pulled it after {waited.total_seconds():.0f}s in queue",
            policy_version=case.plan.policy_version if case.plan else settings.policy.version,
            step=case.step,
        )
        case.last_decision = explanation
        decision = Decision(
            uuid.uuid4().hex,
            "",
            case.case_id,
            case.customer_id,
            outcome,
            agent.agent_id,
            case.channel,
            case.topic,
            case.priority,
            explanation,
            now,
            now - waited,
        )
        repo.save_case(case)
        note_on_timeline(
            uow,
            case,
            EntryKind.ASSIGNED,
            now,
            f"{agent.agent_id} took it after {waited.total_seconds():.0f}s in queue",
        )
        uow.emit(CaseRouted(decision))
        decisions.append(decision)
    return decisions
