"""Case life after routing: resolution and handoffs."""

from __future__ import annotations

from datetime import datetime

from ticketrouter.domain.cases import Case
from ticketrouter.domain.commands import AddNote, ResolveCase, TransferCase
from ticketrouter.domain.decisions import Outcome
from ticketrouter.domain.errors import ConflictingState, InvalidField, NotFound
from ticketrouter.domain.events import CaseResolved, CaseRouted
from ticketrouter.domain.matching import exclusion, rank_agents
from ticketrouter.domain.timeline import EntryKind
from ticketrouter.service_layer.history import note_on_timeline, record_handoff
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.routing import decide, pull_waiting_cases, route_case
from ticketrouter.service_layer.settings import RoutingSettings


def _case(uow: UnitOfWork, case_id: str) -> Case:
    case = uow.repo.get_case(case_id)
    if case is None:
        raise NotFound("case", case_id)
    return case


def resolve_case(
    cmd: ResolveCase, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Case:
    case = _case(uow, cmd.case_id)
    # Capacity is held by live contacts: a pending case's slot is free already,
    # unless its wrap-up still holds it.
    owner = case.owner_agent_id if case.holds_slot else None
    first_contact = case.resolve(cmd.resolution_code or "resolved", now)
    if owner is not None:
        uow.repo.release_capacity(owner, case.channel)
    uow.repo.save_case(case)
    uow.repo.record_resolution(case)
    note_on_timeline(
        uow,
        case,
        EntryKind.RESOLVED,
        now,
        case.resolution_code + (", first contact" if first_contact else ""),
    )
    uow.emit(CaseResolved(case.case_id, case.first_channel, first_contact, case.handoff_count))
    if owner is not None:
        pull_waiting_cases(uow, owner, now, settings)
    return case


def transfer_case(
    cmd: TransferCase, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Case:
    """A handoff: counted with its reason, and the case can no longer be first-contact resolved."""
    repo = uow.repo
    case = _case(uow, cmd.case_id)
    if cmd.to_agent_id is not None and cmd.to_agent_id == case.owner_agent_id:
        raise InvalidField("to_agent_id", "the case already belongs to this agent")
    target = None
    if cmd.to_agent_id is not None:
        target = repo.get_agent(cmd.to_agent_id)
        if target is None:
            raise NotFound("agent", cmd.to_agent_id)
        why = exclusion(target, case.requirements, case.channel)
        if why is not None:
            raise ConflictingState(f"agent {target.agent_id} cannot take this case: {why}")
    former = case.hand_off()
    former_agent = repo.get_agent(former)
    repo.release_capacity(former, case.channel)
    if target is not None:
        if not repo.reserve_capacity(target.agent_id, case.channel, now):
            raise ConflictingState(f"agent {target.agent_id} has no free capacity")
        case.assign(target.agent_id, case.channel, now)
        ranking = rank_agents(
            case.requirements,
            case.channel,
            [target],
            case.rule,
            policy_version=settings.policy.version,
        )
        decision = decide(
            case,
            None,
            Outcome.REASSIGNED,
            target.agent_id,
            ranking.explanation,
            now,
            f"transferred by {former} ({cmd.reason}) to {target.agent_id}",
        )
    else:
        decision = route_case(
            uow,
            case,
            case.channel,
            now,
            settings,
            None,
            excluded=frozenset({former}),
            assigned_outcome=Outcome.REASSIGNED,
        )
    repo.save_case(case)
    record_handoff(uow, case, former, former_agent, cmd.reason, now)
    uow.emit(CaseRouted(decision))
    # The former owner frees a slot but must not take back the case they handed off.
    pull_waiting_cases(uow, former, now, settings, skip=frozenset({case.case_id}))
    return case


def add_note(cmd: AddNote, uow: UnitOfWork, now: datetime, settings: RoutingSettings) -> Case:
    """Over-communicate internally: the note travels with the customer's history."""
    case = _case(uow, cmd.case_id)
    note_on_timeline(uow, case, EntryKind.NOTE, now, f"{cmd.author}: {cmd.text}")
    return case
