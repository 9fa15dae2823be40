"""Contact events, whichever edge they arrive on: idempotent by event_id, one
transaction for the whole batch (the caller's unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ticketrouter.domain.cases import Case
from ticketrouter.domain.commands import (
    AbandonContact,
    EndContact,
    EventCommand,
    ReceiveContact,
    RecordMessage,
    RecordSurvey,
    UpdateCustomer,
)
from ticketrouter.domain.customers import Contact
from ticketrouter.domain.decisions import Decision
from ticketrouter.domain.errors import NotFound
from ticketrouter.domain.events import SurveyCounted
from ticketrouter.domain.surveys import SurveyAnswer
from ticketrouter.domain.timeline import EntryKind, TimelineEntry
from ticketrouter.service_layer.history import note_on_timeline
from ticketrouter.service_layer.identities import resolve_customer
from ticketrouter.service_layer.lifecycle import abandon_contact, end_contact
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.routing import receive_contact
from ticketrouter.service_layer.settings import RoutingSettings


def handle_events(
    commands: Sequence[EventCommand], uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> list[Decision | None]:
    """Apply a batch; returns the routing decision of each contact (None otherwise,
    and for an event seen before, which changes nothing)."""
    seen = uow.repo.processed_among(c.event_id for c in commands)
    uow.repo.prefetch(
        identity
        for c in commands
        if isinstance(c, ReceiveContact | UpdateCustomer) and c.event_id not in seen
        for identity in c.identities
    )
    results: list[Decision | None] = []
    for command in commands:
        if command.event_id in seen:
            results.append(None)
            continue
        seen.add(command.event_id)
        results.append(_apply(command, uow, now, settings))
        uow.repo.mark_processed(command.event_id, now)
    return results


def _apply(
    command: EventCommand, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Decision | None:
    match command:
        case ReceiveContact():
            return receive_contact(command, uow, now, settings)
        case RecordMessage():
            record_message(command, uow)
        case RecordSurvey():
            record_survey(command, uow, now)
        case UpdateCustomer():
            update_customer(command, uow, now, settings)
        case AbandonContact():
            abandon_contact(command, uow, now, settings)
        case EndContact():
            end_contact(command, uow, now, settings)
    return None


def record_message(command: RecordMessage, uow: UnitOfWork) -> None:
    case = _existing_case(uow, command.case_id)
    uow.repo.add_contact(
        Contact(
            command.event_id,
            case.customer_id,
            case.case_id,
            command.channel,
            case.topic,
            command.subject,
            command.occurred_at,
            "message",
        )
    )
    uow.repo.record(
        TimelineEntry(
            case.customer_id,
            command.occurred_at,
            EntryKind.MESSAGE,
            case.case_id,
            command.channel.value,
            command.text[:200],
        )
    )


def record_survey(command: RecordSurvey, uow: UnitOfWork, now: datetime) -> None:
    """Count the answer under the case's state now; it replaces the case's earlier
    answer, unless it is older than that one (see domain.surveys)."""
    case = _existing_case(uow, command.case_id)
    note_on_timeline(uow, case, EntryKind.CSAT, command.occurred_at, f"{command.csat}/5")
    answer = SurveyAnswer(
        command.event_id,
        case.case_id,
        case.first_channel,
        command.csat,
        case.handoff_count,
        case.first_contact_resolved,
        command.occurred_at,
    )
    current = uow.repo.current_survey(case.case_id)
    if current is not None and current.answered_at > answer.answered_at:
        return
    case.csat = command.csat
    uow.repo.save_case(case)
    uow.repo.record_survey(answer, now, current)
    uow.emit(SurveyCounted(answer, current))


def update_customer(
    command: UpdateCustomer, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> None:
    customer_id, _ = resolve_customer(
        uow, command.identities, now, settings.identities, command.event_id
    )
    uow.repo.update_customer(customer_id, command.display_name, command.tier, command.language)
    fields = (
        ("name", command.display_name),
        ("tier", command.tier),
        ("language", command.language),
    )
    changed = ", ".join(f"{name}={value}" for name, value in fields if value)
    if changed:
        uow.repo.record(
            TimelineEntry(customer_id, command.occurred_at, EntryKind.PROFILE, detail=changed)
        )
    if command.offers:
        # Offers travel with every future case of this customer (the context packet).
        uow.repo.save_offers(customer_id, command.offers, now)
        for offer in command.offers:
            until = f" until {offer.expires_at:%Y-%m-%d}" if offer.expires_at else ""
            uow.repo.record(
                TimelineEntry(
                    customer_id,
                    command.occurred_at,
                    EntryKind.OFFER,
                    detail=f"{offer.code}: {offer.description}{until}",
                )
            )


def _existing_case(uow: UnitOfWork, case_id: str) -> Case:
    case = uow.repo.get_case(case_id)
    if case is None:
        raise NotFound("case", case_id)
    return case
