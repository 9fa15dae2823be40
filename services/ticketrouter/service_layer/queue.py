"""Time in the queue: routing steps that relax requirements as a case waits, and
offers (reservations) that an agent accepts, declines or lets lapse.

Driven by the clock passed in, so tests run steps and timeouts without sleeping.
"""

from __future__ import annotations

from datetime import datetime

from ticketrouter.domain.cases import Case, CaseStatus, OfferOutcome
from ticketrouter.domain.channels import Presence
from ticketrouter.domain.commands import AcceptOffer, AdvanceQueue, DeclineOffer
from ticketrouter.domain.decisions import Decision, Outcome
from ticketrouter.domain.errors import NotFound
from ticketrouter.domain.events import CaseRouted, OfferEnded
from ticketrouter.domain.timeline import EntryKind
from ticketrouter.service_layer.history import note_on_timeline
from ticketrouter.service_layer.lifecycle import end_wrap_ups
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.routing import route_case
from ticketrouter.service_layer.settings import RoutingSettings

OPEN_OFFERS = 1000  # more than any agent's capacity: every offer an agent holds


def advance_queue(
    cmd: AdvanceQueue, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> list[Decision]:
    """Offers that lapsed go to someone else first; then slots whose wrap-up is over
    free (their agents pull waiting work); then cases whose next step is due are
    relaxed and routed again."""
    decisions = [
        _lapse(uow, case, now, settings) for case in uow.repo.lapsed_offers(now, cmd.limit)
    ]
    decisions += end_wrap_ups(uow, now, settings, cmd.limit)
    for case in uow.repo.cases_due_a_step(now, cmd.limit):
        if not case.relax(now):
            continue
        note_on_timeline(
            uow, case, EntryKind.STEP, now, f"step {case.step}: now {case.requirements.describe()}"
        )
        decision = route_case(uow, case, case.channel, now, settings, None)
        uow.repo.save_case(case)
        if decision.outcome is not Outcome.QUEUED:
            uow.emit(CaseRouted(decision))
            decisions.append(decision)
    return decisions


def accept_offer(
    cmd: AcceptOffer, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Case:
    case = _case(uow, cmd.case_id)
    answered = _ended(case, OfferOutcome.ACCEPTED, now, settings)
    case.accept(cmd.agent_id, now)
    uow.emit(answered)
    uow.repo.reset_missed_offers(cmd.agent_id)
    uow.repo.save_case(case)
    note_on_timeline(uow, case, EntryKind.ASSIGNED, now, f"{cmd.agent_id} accepted the offer")
    return case


def decline_offer(
    cmd: DeclineOffer, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Case:
    case = _case(uow, cmd.case_id)
    _end_offer(
        uow, case, cmd.agent_id, now, settings, OfferOutcome.DECLINED, cmd.reason or "no reason"
    )
    _reroute(uow, case, now, settings)
    return case


def withdraw_offers(
    uow: UnitOfWork, agent_id: str, now: datetime, settings: RoutingSettings
) -> None:
    """The agent went away or offline: the offers they hold go to someone else now
    rather than lapsing on an empty desk."""
    for case in uow.repo.list_cases(agent_id, CaseStatus.OFFERED, OPEN_OFFERS):
        _end_offer(uow, case, agent_id, now, settings, OfferOutcome.WITHDRAWN, "agent left")
        _reroute(uow, case, now, settings)


def _lapse(uow: UnitOfWork, case: Case, now: datetime, settings: RoutingSettings) -> Decision:
    agent_id = case.owner_agent_id or ""
    _end_offer(uow, case, agent_id, now, settings, OfferOutcome.LAPSED)
    if uow.repo.note_missed_offer(agent_id) >= settings.max_missed_offers:
        # Nobody is answering that desk: stop offering them work until they are back
        # (before routing again, so no other case goes to them meanwhile).
        uow.repo.set_presence(agent_id, Presence.AWAY)
        uow.repo.reset_missed_offers(agent_id)
        note_on_timeline(uow, case, EntryKind.DECLINED, now, f"{agent_id} set away: no answer")
    return _reroute(uow, case, now, settings)


def _end_offer(
    uow: UnitOfWork,
    case: Case,
    agent_id: str,
    now: datetime,
    settings: RoutingSettings,
    outcome: OfferOutcome,
    why: str = "",
) -> None:
    """The offer ends without the agent ever owning the case, so no handoff counts."""
    ended = _ended(case, outcome, now, settings)
    case.withdraw_offer(agent_id)
    uow.repo.release_capacity(agent_id, case.channel)
    detail = f"offer to {agent_id} {outcome.value}" + (f": {why}" if why else "")
    note_on_timeline(uow, case, EntryKind.DECLINED, now, detail)
    uow.emit(ended)


def _ended(
    case: Case, outcome: OfferOutcome, now: datetime, settings: RoutingSettings
) -> OfferEnded:
    # The offer's start is its expiry less the timeout in force: a timeout changed while
    # offers are open moves their answer times by the change.
    return OfferEnded(case.channel, outcome, case.offered_for(now, settings.offer_timeout))


def _reroute(uow: UnitOfWork, case: Case, now: datetime, settings: RoutingSettings) -> Decision:
    """At once, to anyone but the agents who let it go."""
    decision = route_case(uow, case, case.channel, now, settings, None)
    uow.repo.save_case(case)
    uow.emit(CaseRouted(decision))
    return decision


def _case(uow: UnitOfWork, case_id: str) -> Case:
    case = uow.repo.get_case(case_id)
    if case is None:
        raise NotFound("case", case_id)
    return case
