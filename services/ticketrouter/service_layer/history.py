"""What happened to a case, kept where it is measured (handoffs) and where people
read it (the customer's timeline)."""

from __future__ import annotations

from datetime import datetime

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.cases import Case, HandoffReason
from ticketrouter.domain.events import HandoffRecorded
from ticketrouter.domain.timeline import EntryKind, TimelineEntry
from ticketrouter.service_layer.ports import UnitOfWork


def note_on_timeline(
    uow: UnitOfWork, case: Case, kind: EntryKind, at: datetime, detail: str
) -> None:
    uow.repo.record(
        TimelineEntry(case.customer_id, at, kind, case.case_id, case.channel.value, detail)
    )


def record_handoff(
    uow: UnitOfWork,
    case: Case,
    former_id: str,
    former: Agent | None,
    reason: HandoffReason,
    now: datetime,
) -> None:
    """After the case left `former_id` and was routed on (to an owner, or the queue)."""
    repo = uow.repo
    new_owner = repo.get_agent(case.owner_agent_id) if case.owner_agent_id else None
    repo.add_handoff(case.case_id, former_id, case.owner_agent_id, reason.value, now)
    note_on_timeline(
        uow,
        case,
        EntryKind.HANDOFF,
        now,
        f"{reason.value}: {former_id} -> {case.owner_agent_id or 'queue'}",
    )
    uow.emit(
        HandoffRecorded(
            case.case_id,
            reason,
            former.team if former else "",
            new_owner.team if new_owner else "",
        )
    )
