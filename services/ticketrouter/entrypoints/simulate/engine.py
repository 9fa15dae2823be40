"""One replication: the real handlers (receive_contact, accept/decline offers,
advance_queue, transfer_case, resolve_case, set_presence) on the in-memory adapters,
driven by a virtual clock.

The event loop is a heap of (time, sequence, action): measured on this machine it
turns 300,000 events in 0.74 s (2.5 µs each) where simpy takes 9.1 µs an event in
processes, and the router, not queueing objects, decides who takes what, so neither
simpy's resources nor ciw's networks would be used; salabim is larger still. Events
that no longer apply (a patience timer for an answered call) are dropped when due.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from ticketrouter.adapters.memory_repository import InMemoryRepository
from ticketrouter.adapters.memory_unit_of_work import InMemoryUnitOfWork
from ticketrouter.domain.cases import HandoffReason
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.commands import (
    AbandonContact,
    AcceptOffer,
    AdvanceQueue,
    DeclineOffer,
    EndContact,
    ReceiveContact,
    ResolveCase,
    SetPresence,
    TransferCase,
    UpsertAgent,
)
from ticketrouter.domain.decisions import Decision, Outcome
from ticketrouter.domain.events import CaseRouted, Event, FirstContactRevoked
from ticketrouter.domain.identity import Identity, IdentityKind
from ticketrouter.domain.plan import RoutingPolicy
from ticketrouter.domain.policy_replay import could_ever_serve
from ticketrouter.domain.requirements import Requirements
from ticketrouter.entrypoints.simulate.scenario import Distribution, Scenario
from ticketrouter.entrypoints.simulate.tally import ContactRecord, Tally
from ticketrouter.service_layer.agents import set_presence, upsert_agent
from ticketrouter.service_layer.cases import resolve_case, transfer_case
from ticketrouter.service_layer.lifecycle import abandon_contact, end_contact
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.queue import accept_offer, advance_queue, decline_offer
from ticketrouter.service_layer.routing import receive_contact
from ticketrouter.service_layer.settings import RoutingSettings

C = TypeVar("C")
R = TypeVar("R")
# How long the run goes on after the last arrival, so the last contacts are answered
# or abandoned (their agents' shifts still end on time).
DRAIN = timedelta(hours=2)


def draw(distribution: Distribution, rng: random.Random) -> float:
    kind, p = distribution.kind, distribution.params
    if kind == "constant":
        return p[0]
    if kind == "exponential":
        return rng.expovariate(1.0 / p[0]) if p[0] > 0 else 0.0
    if kind == "uniform":
        return rng.uniform(p[0], p[1])
    if kind == "lognormal":
        mean, sd = p
        if mean <= 0:
            return 0.0
        sigma2 = math.log(1 + (sd / mean) ** 2)
        return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))
    return rng.choice(p)


@dataclass(slots=True)
class Arrival:
    at: float
    customer: int
    stream: int


@dataclass(slots=True)
class Work:
    """A case an agent works: who, on which channel, for how long."""

    agent_id: str
    since: float
    handle: float


class Replication:
    def __init__(
        self,
        scenario: Scenario,
        policy: RoutingPolicy,
        seed: int,
        observe: Callable[[Decision], None] | None = None,
    ) -> None:
        """`observe` is told every decision the router makes, as the worker publishes
        them on routing-decisions."""
        self.scenario = scenario
        self._observe = observe
        self.rng = random.Random(seed)
        self.repo = InMemoryRepository(scenario.aging_per_minute)
        behaviour = scenario.behaviour
        # As bootstrap builds the worker's, from the scenario instead of the environment.
        self.settings = RoutingSettings(
            policy,
            fcr_window=scenario.fcr_window,
            aging_per_minute=scenario.aging_per_minute,
            offer_timeout=timedelta(seconds=behaviour.offer_timeout_seconds),
            wrap_up={c: timedelta(seconds=s) for c, s in behaviour.wrap_up_seconds.items()},
        )
        self.start = scenario.start
        intervals = math.ceil(scenario.duration / scenario.interval)
        self.tally = Tally(
            0.0, scenario.interval.total_seconds(), intervals, scenario.service_level_seconds
        )
        self.team = {m.agent.agent_id: m.agent.team for m in scenario.roster}
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.now = 0.0
        # case id -> its contacts still waiting (a customer may call again meanwhile)
        self._waiting: dict[str, list[ContactRecord]] = {}
        self._by_event: dict[str, ContactRecord] = {}
        self._work: dict[str, Work] = {}  # case id -> who works it
        self._handle_of: dict[str, Distribution] = {}  # event id -> its handle time
        self._case_handle: dict[str, Distribution] = {}  # case id -> its work's
        self._first_of: dict[str, ContactRecord] = {}  # case id -> the contact opening it
        self._holding: dict[str, int] = {}  # agent id -> cases held
        self._busy_since: dict[str, float] = {}
        self._next_event = 0
        self._servable: dict[tuple[Requirements, Channel], bool] = {}

    # --- the clock
    def at(self, seconds: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (seconds, self._seq, action))

    def moment(self) -> datetime:
        return self.start + timedelta(seconds=self.now)

    def run(self, progress: Callable[[float], None] | None = None) -> Tally:
        self._roster()
        self._arrivals()
        horizon = (self.scenario.duration + DRAIN).total_seconds()
        warm = self.scenario.warm_up.total_seconds()
        ticks = 0
        while self._heap and self._heap[0][0] <= horizon:
            self.now, _, action = heapq.heappop(self._heap)
            action()
            ticks += 1
            if progress is not None and ticks % 2000 == 0:
                span = (self.scenario.duration + self.scenario.warm_up).total_seconds()
                progress(min(1.0, max(0.0, (self.now + warm) / span)))
        self.now = horizon
        for agent_id in list(self._busy_since):
            self._idle(agent_id, force=True)
        return self.tally

    # --- running a handler as the production path does: one unit of work, commit
    def handle(self, handler: Callable[[C, UnitOfWork, datetime, RoutingSettings], R], cmd: C) -> R:
        with InMemoryUnitOfWork(self.repo) as uow:
            result = handler(cmd, uow, self.moment(), self.settings)
            events = uow.commit()
        self._after(events)
        return result

    def _after(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, CaseRouted):
                if self._observe is not None:
                    self._observe(event.decision)
                self._routed(event.decision)
            elif isinstance(event, FirstContactRevoked):
                # A repeat contact inside the FCR window: the credit its case got when
                # it resolved is taken back, as the revocations counter does.
                opened = self._first_of.get(event.case_id)
                if opened is not None:
                    opened.first_contact = False

    # --- the roster and its shifts
    def _roster(self) -> None:
        end = self.scenario.end
        opens = self.start - self.scenario.warm_up
        for member in self.scenario.roster:
            self.handle(upsert_agent, UpsertAgent(member.agent))
            spans = (
                [(opens, end)]
                if not member.shifts
                else [s for shift in member.shifts for s in shift.spans(opens, end)]
            )
            agent_id, team = member.agent.agent_id, member.agent.team
            for begin, until in spans:
                since = (begin - self.start).total_seconds()
                upto = (until - self.start).total_seconds()
                self.tally.add_time(self.tally.online, team, since, upto)
                self.at(since, self._presence(agent_id, Presence.AVAILABLE))
                if until < end:
                    self.at(upto, self._presence(agent_id, Presence.AWAY))

    def _presence(self, agent_id: str, presence: Presence) -> Callable[[], None]:
        def change() -> None:
            self.handle(set_presence, SetPresence(agent_id, presence))

        return change

    def _tick(self) -> None:
        """Lapsed offers go to someone else and due steps fire (advance_queue, as the
        worker's timer does)."""
        self.handle(advance_queue, AdvanceQueue())

    # --- traffic
    def _arrivals(self) -> None:
        width = self.scenario.interval.total_seconds()
        duration = self.scenario.duration.total_seconds()
        customer = 0
        warm_up = self.scenario.warm_up.total_seconds()
        for n, stream in enumerate(self.scenario.traffic.generated):
            counts = stream.expected_per_interval(self.scenario.interval)
            t = -warm_up
            k = math.floor(t / width)
            while t < duration:
                edge = min((k + 1) * width, duration)
                rate = counts[k % len(counts)] / width
                while rate > 0:
                    t += self.rng.expovariate(rate)
                    if t >= edge:
                        break
                    customer += 1
                    self._expect(Arrival(t, customer, n))
                t, k = edge, k + 1
        self._recorded(0)

    def _recorded(self, index: int) -> None:
        """The file's events, in time order, one in the heap at a time (the next is
        put there when this one arrives), so the heap stays the size of what is due."""
        contacts = self.scenario.traffic.recorded.contacts
        if index < len(contacts):
            at = (contacts[index].command.occurred_at - self.start).total_seconds()
            self.at(at, lambda: self._arrive_recorded(index))

    def _arrive_recorded(self, index: int) -> None:
        self._recorded(index + 1)
        recorded = self.scenario.traffic.recorded.contacts[index]
        traffic = self.scenario.traffic
        handle, patience = traffic.handle, traffic.patience
        if recorded.handle_seconds is not None:
            handle = Distribution("constant", (recorded.handle_seconds,))
        if recorded.patience_seconds is not None:
            patience = Distribution("constant", (recorded.patience_seconds,))
        self._contact(recorded.command, handle, patience)

    def _expect(self, arrival: Arrival) -> None:
        self.at(arrival.at, lambda: self._arrive(arrival))

    def _arrive(self, arrival: Arrival) -> None:
        stream = self.scenario.traffic.generated[arrival.stream]
        self._next_event += 1
        cmd = ReceiveContact(
            event_id=f"sim-{self._next_event}",
            occurred_at=self.moment(),
            channel=stream.channel,
            identities=(Identity(IdentityKind.EMAIL, f"c{arrival.customer}@sim.invalid"),),
            topic=stream.topic,
            language=stream.language,
            attributes=stream.attributes,
        )
        self._contact(cmd, stream.handle, stream.patience)
        if stream.repeat is not None and self.rng.random() < stream.repeat.probability:
            later = self.now + draw(stream.repeat.after, self.rng)
            if later < self.scenario.duration.total_seconds():
                self.at(
                    later, lambda: self._arrive(Arrival(later, arrival.customer, arrival.stream))
                )

    def _contact(
        self, cmd: ReceiveContact, handle: Distribution, patience: Distribution | None
    ) -> None:
        """A contact arrives now: the router receives it (it may open a case, join or
        reopen the customer's, revoking first-contact credit), and its customer gives
        up after their patience unless an agent took it at once."""
        record = ContactRecord(cmd.event_id, self.now, cmd.channel.value)
        reported = self.now >= 0  # not during the warm-up
        if reported:
            self.tally.contacts.append(record)
        self._by_event[cmd.event_id] = record
        self._handle_of[cmd.event_id] = handle
        decision = self.handle(receive_contact, cmd)
        record.rule, record.case_id = decision.explanation.rule, decision.case_id
        if decision.case_id not in self._first_of:
            self._first_of[decision.case_id] = record
            record.opened_case = True
            record.unroutable = not self._anyone_could_take(decision.case_id)
        if patience is not None and record.answered is None:
            waits = draw(patience, self.rng)
            self.at(self.now + waits, lambda: self._give_up(record))

    def _routed(self, decision: Decision) -> None:
        record = self._by_event.get(decision.event_id) if decision.event_id else None
        if record is not None and not record.case_id:
            record.case_id = decision.case_id
        if decision.outcome is Outcome.QUEUED:
            if record is not None:
                self._wait(decision.case_id, record)
            case = self.repo.get_case(decision.case_id)
            step_at = case.next_step_at if case is not None else None
            if step_at is not None:  # the policy relaxes it then: route it again
                self.at(max(self.now, (step_at - self.start).total_seconds()), self._tick)
            return
        if decision.agent_id is None:
            return
        if decision.outcome is Outcome.OFFERED:
            if record is not None:  # it waits until the agent accepts
                self._wait(decision.case_id, record)
            self._offer(decision)
        elif decision.outcome is Outcome.REJOINED_CASE:
            # The owner already holds the case: the contact is answered at once and
            # adds no work of its own.
            if record is not None and record.answered is None:
                record.answered, record.waited_at_once = self.now, True
        else:
            self._take(decision.case_id, decision.agent_id, record)

    def _take(self, case_id: str, agent_id: str, record: ContactRecord | None) -> None:
        """An agent starts on a case: every contact of it still waiting is answered
        now (the customer is through to them, however many times they called)."""
        waiting = self._waiting.pop(case_id, None) or ([record] if record is not None else [])
        for contact in waiting:
            if contact.answered is None and contact.abandoned is None:
                contact.answered = self.now
                contact.waited_at_once = contact.answered == contact.arrived
        self._busy(agent_id)
        # The work is the latest contact's; a case handed on keeps the work it had.
        for contact in waiting:
            own = self._handle_of.pop(contact.event_id, None)
            if own is not None:
                self._case_handle[case_id] = own
        handle = draw(self._case_handle.get(case_id, self.scenario.traffic.handle), self.rng)
        self._work[case_id] = Work(agent_id, self.now, handle)
        self.at(self.now + handle, lambda: self._finish(case_id, transfer=None))

    def _wait(self, case_id: str, record: ContactRecord) -> None:
        waiting = self._waiting.setdefault(case_id, [])
        if record not in waiting:
            waiting.append(record)

    def _offer(self, decision: Decision) -> None:
        behaviour = self.scenario.behaviour
        pick = self.rng.random()
        case_id, agent_id = decision.case_id, decision.agent_id or ""
        if pick < behaviour.lapse:
            timeout = behaviour.offer_timeout_seconds
            self.at(self.now + timeout, self._tick)
            return
        answer_in = min(draw(behaviour.answer, self.rng), behaviour.offer_timeout_seconds)
        accepted = pick < behaviour.lapse + behaviour.accept

        def answer() -> None:
            case = self.repo.get_case(case_id)
            if case is None or case.owner_agent_id != agent_id or case.offer_expires_at is None:
                return  # the offer ended meanwhile
            if accepted:
                self.handle(accept_offer, AcceptOffer(case_id, agent_id))
                self._take(case_id, agent_id, None)
            else:
                self.handle(decline_offer, DeclineOffer(case_id, agent_id, "declined"))

        self.at(self.now + answer_in, answer)

    def _give_up(self, record: ContactRecord) -> None:
        if record.answered is not None:
            return
        record.abandoned = self.now
        waiting = self._waiting.get(record.case_id, [])
        if record in waiting:
            waiting.remove(record)
        cmd = AbandonContact(f"{record.event_id}.abandoned", self.moment(), record.event_id)
        self.handle(abandon_contact, cmd)

    def _finish(self, case_id: str, transfer: bool | None) -> None:
        work = self._work.pop(case_id)
        topic = self.repo.get_case(case_id)
        if transfer is None:
            chance = self.scenario.behaviour.transfer_probability(topic.topic if topic else "")
            transfer = self.rng.random() < chance
        if transfer:
            self._spent(case_id, work)
            self._idle(work.agent_id)
            opened = self._first_of.get(case_id)
            if opened is not None:
                opened.handoffs += 1
            self.handle(transfer_case, TransferCase(case_id, HandoffReason.OTHER))
            return
        # The agent hangs up (contact.ended frees the slot, or holds it for the
        # channel's wrap-up), then resolves once the after-call work is done.
        held = self.repo.get_case(case_id)
        for contact_id, _ in held.live_contacts if held is not None else ():
            cmd = EndContact(f"{contact_id}.ended", self.moment(), contact_id)
            self.handle(end_contact, cmd)
        ended = self.repo.get_case(case_id)
        until = ended.slot_held_until if ended is not None else None
        if until is None:
            self._resolve(case_id, work)
            return
        self.at((until - self.start).total_seconds(), lambda: self._wrapped_up(case_id, work))

    def _wrapped_up(self, case_id: str, work: Work) -> None:
        """The wrap-up is over: advance_queue frees the slot, as the worker's timer
        does, and the owner pulls waiting work."""
        self._resolve(case_id, work, before=self._tick)

    def _resolve(self, case_id: str, work: Work, before: Callable[[], None] | None = None) -> None:
        self._spent(case_id, work)
        self._idle(work.agent_id)
        if before is not None:
            before()
        case = self.handle(resolve_case, ResolveCase(case_id))
        opened = self._first_of.get(case_id)
        if opened is not None:
            opened.resolutions += 1
            opened.first_contact = case.first_contact_resolved

    def _anyone_could_take(self, case_id: str) -> bool:
        """Whether some agent of the roster, on any shift, works the case's channel
        and holds what its rule asks after every step (presence and load aside)."""
        case = self.repo.get_case(case_id)
        if case is None:
            return True
        loosest = case.requirements
        if case.plan is not None:
            _fired, loosest = case.plan.requirements_after(math.inf)
        key = (loosest, case.channel)
        if key not in self._servable:
            self._servable[key] = any(
                m.agent.capacity.get(case.channel, 0) > 0 and could_ever_serve(m.agent, loosest)
                for m in self.scenario.roster
            )
        return self._servable[key]

    def _spent(self, case_id: str, work: Work) -> None:
        record = self._first_of.get(case_id)
        spent = self.now - max(work.since, 0.0)
        if record is not None and spent > 0:
            self.tally.busy_by_rule[record.rule] += spent
            self.tally.busy_by_channel[record.channel] += spent

    # --- agents' busy time
    def _busy(self, agent_id: str) -> None:
        held = self._holding.get(agent_id, 0)
        self._holding[agent_id] = held + 1
        if held == 0:
            self._busy_since[agent_id] = self.now

    def _idle(self, agent_id: str, force: bool = False) -> None:
        held = 0 if force else self._holding.get(agent_id, 1) - 1
        self._holding[agent_id] = held
        if held == 0 and agent_id in self._busy_since:
            since = self._busy_since.pop(agent_id)
            self.tally.add_time(self.tally.busy, self.team[agent_id], since, self.now)
