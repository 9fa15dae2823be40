"""A contact's end: the customer gave up waiting (contact.abandoned), or the
interaction is over (contact.ended). Capacity is held by live contacts, not by
open cases: the agent's slot frees when the case's last live contact ends (after the
channel's wrap-up), while the case stays with its owner, pending, until the customer
comes back or the owner resolves it.

Both handlers take the contact's id (the event_id of its contact.received) and
`now`, like every handler, so a simulation drives them on a virtual clock. Called
through `intake.handle_events` they are idempotent by the command's event_id; called
directly, a contact that is no longer live is left alone, so a repeat changes nothing.
Which of the two happened is read from the case, not from the event's name: a
contact that ends before an agent took it was abandoned, and a customer who "leaves"
after an agent took the contact ended it (the hang-up raced the answer).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ticketrouter.domain.cases import Case, CaseStatus, OfferOutcome
from ticketrouter.domain.channels import Channel
from ticketrouter.domain.commands import AbandonContact, EndContact
from ticketrouter.domain.decisions import Decision
from ticketrouter.domain.errors import NotFound
from ticketrouter.domain.events import ContactAbandoned, OfferEnded
from ticketrouter.domain.timeline import EntryKind
from ticketrouter.service_layer.history import note_on_timeline
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.routing import pull_waiting_cases
from ticketrouter.service_layer.settings import RoutingSettings


def abandon_contact(
    cmd: AbandonContact, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Case:
    """The customer left before an agent took the contact. A waiting case with no
    other live contact leaves the queue as `abandoned`; an offered one is withdrawn
    from its agent, whose slot frees (and pulls other work)."""
    return _contact_over(uow, cmd.contact_id, now, settings)


def end_contact(cmd: EndContact, uow: UnitOfWork, now: datetime, settings: RoutingSettings) -> Case:
    """The interaction is over. When it was the case's last live contact, the case
    goes `pending` with its owner and the owner's slot on that channel frees, at once
    or after the channel's wrap-up (`RoutingSettings.wrap_up`, swept by advance_queue)."""
    return _contact_over(uow, cmd.contact_id, now, settings)


def _contact_over(
    uow: UnitOfWork, contact_id: str, now: datetime, settings: RoutingSettings
) -> Case:
    case_id = uow.repo.case_of_contact(contact_id)
    case = uow.repo.get_case(case_id) if case_id is not None else None
    if case is None:
        raise NotFound("contact", contact_id)
    channel = case.contact_left(contact_id)
    if channel is None:
        return case  # ended or abandoned before, or its case closed meanwhile
    if case.taken:
        _ended(uow, case, channel, now, settings)
    else:
        _abandoned(uow, case, channel, now, settings)
    return case


def _abandoned(
    uow: UnitOfWork, case: Case, channel: Channel, now: datetime, settings: RoutingSettings
) -> None:
    if case.live_contacts:
        # Another contact of the customer still waits: the case keeps its place.
        if case.status is CaseStatus.QUEUED:
            case.channel = case.live_contacts[-1][1]
        note_on_timeline(uow, case, EntryKind.ABANDONED, now, f"left on {channel}; others wait")
        uow.repo.save_case(case)
        return
    offered_to = case.owner_agent_id if case.status is CaseStatus.OFFERED else None
    if offered_to is not None:
        uow.emit(
            OfferEnded(
                case.channel, OfferOutcome.WITHDRAWN, case.offered_for(now, settings.offer_timeout)
            )
        )
    slot_channel = case.channel
    waited = case.abandon(now)
    detail = f"left the queue on {channel} after {waited:.0f}s"
    if offered_to is not None:
        uow.repo.release_capacity(offered_to, slot_channel)
        detail += f"; the offer to {offered_to} withdrawn"
    uow.repo.save_case(case)
    note_on_timeline(uow, case, EntryKind.ABANDONED, now, detail)
    uow.emit(ContactAbandoned(channel, waited))
    if offered_to is not None:
        pull_waiting_cases(uow, offered_to, now, settings)


def _ended(
    uow: UnitOfWork, case: Case, channel: Channel, now: datetime, settings: RoutingSettings
) -> None:
    repo = uow.repo
    owner = case.owner_agent_id
    note_on_timeline(uow, case, EntryKind.ENDED, now, f"{channel} contact ended")
    if case.status is not CaseStatus.ASSIGNED or owner is None or case.live_on(case.channel):
        # Pending already, or the slot still serves a live contact on its channel.
        repo.save_case(case)
        return
    if case.live_contacts:
        # The slot's contacts are over but one on another channel is not: the slot
        # follows it when the owner has room there, else it stays where it is.
        newest = case.live_contacts[-1][1]
        if repo.reserve_capacity(owner, newest, now):
            repo.release_capacity(owner, case.channel)
            case.channel = newest
        repo.save_case(case)
        return
    wrap_up = settings.wrap_up.get(case.channel, timedelta(0))
    freed = case.contacts_ended(now, wrap_up)
    if freed:
        repo.release_capacity(owner, case.channel)
    repo.save_case(case)
    if freed:
        pull_waiting_cases(uow, owner, now, settings)


def end_wrap_ups(
    uow: UnitOfWork, now: datetime, settings: RoutingSettings, limit: int
) -> list[Decision]:
    """Free the slots whose wrap-up is over; each owner then pulls waiting work."""
    decisions: list[Decision] = []
    for case in uow.repo.wrap_ups_over(now, limit):
        owner = case.owner_agent_id
        case.wrap_up_over()
        uow.repo.save_case(case)
        if owner is not None:
            uow.repo.release_capacity(owner, case.channel)
            decisions += pull_waiting_cases(uow, owner, now, settings)
    return decisions
