"""The repository in process memory, for the simulation: the same contract as the SQL
repository (the contract tests run it beside SQLite and PostgreSQL), without a
database, so a month of traffic routes in seconds.

Stored cases and agents are never handed out: readers get copies, as from a database,
and a handler changes nothing until it saves. Every change is journalled so that the
unit of work's rollback undoes it exactly, as a transaction would. The indexes the
handlers' lookups need (open cases by customer and topic, the queue, offers, cases by
owner) are kept at each write, so no lookup scans every case ever opened.
"""

from __future__ import annotations

import copy
import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.capacity import capacity_limit
from ticketrouter.domain.cases import Case, CaseStatus
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.context import (
    CaseRecord,
    ContextLimits,
    ContextPacket,
    ContextSources,
    NoteSummary,
    build_packet,
)
from ticketrouter.domain.customers import Contact, Customer, Offer
from ticketrouter.domain.identity import Identity, IdentityKind
from ticketrouter.domain.matching import queue_order_key
from ticketrouter.domain.merging import IdentityConflict, Merge
from ticketrouter.domain.reports import (
    ChannelStaffing,
    QueueStat,
    ResolutionReport,
    abandoned_in,
    queue_stats_of,
    staffing_of,
)
from ticketrouter.domain.surveys import CsatGroup, SurveyAnswer, csat_report
from ticketrouter.domain.timeline import EntryKind, TimelineEntry, TimelinePage
from ticketrouter.service_layer.ports import ConcurrentUpdate, Repository

Undo = Callable[[], None]


@dataclass(slots=True)
class _Resolution:
    case_id: str
    first_channel: Channel
    resolved_at: datetime
    first_contact: bool
    handoffs: int
    matured_at: datetime | None = None


@dataclass(slots=True)
class _Survey:
    answer: SurveyAnswer
    counted_at: datetime
    replaced_at: datetime | None = None


class InMemoryRepository(Repository):
    def __init__(self, aging_per_minute: float = 0.0) -> None:
        self._aging = aging_per_minute
        self._journal: list[Undo] = []
        self._customers: dict[str, Customer] = {}
        self._identities: dict[Identity, str] = {}
        self._merges: list[Merge] = []
        self._conflicts: list[IdentityConflict] = []
        self._offers: dict[str, dict[str, Offer]] = {}
        self._contacts: dict[str, list[Contact]] = defaultdict(list)  # by customer
        self._case_of_contact: dict[str, str] = {}
        self._entries: dict[str, list[TimelineEntry]] = defaultdict(list)  # by customer
        self._entry_count = 0
        self._cases: dict[str, Case] = {}
        self._cases_of: dict[str, set[str]] = defaultdict(set)  # by customer
        self._open: dict[tuple[str, str], set[str]] = defaultdict(set)  # customer, topic
        self._by_owner: dict[str, set[str]] = defaultdict(set)
        self._queued: dict[str, Case] = {}
        self._offered: dict[str, Case] = {}
        self._wrapping_up: dict[str, Case] = {}  # pending, the owner's slot still held
        self._handoffs: dict[str, list[tuple[str, str | None, str, datetime]]] = defaultdict(list)
        self._resolutions: list[_Resolution] = []
        self._latest_resolution: dict[str, _Resolution] = {}
        self._surveys: list[_Survey] = []
        self._agents: dict[str, Agent] = {}
        self._missed: dict[str, int] = {}
        self._processed: set[str] = set()

    # --- transactions (driven by InMemoryUnitOfWork)
    def commit(self) -> None:
        self._journal.clear()

    def rollback(self) -> None:
        while self._journal:
            self._journal.pop()()

    def _undo(self, undo: Undo) -> None:
        self._journal.append(undo)

    def _set(self, table: dict, key: object, value: object) -> None:  # type: ignore[type-arg]
        missing = object()
        previous = table.get(key, missing)
        table[key] = value
        self._undo(
            (lambda: table.pop(key, None))
            if previous is missing
            else (lambda: table.__setitem__(key, previous))
        )

    def _append(self, items: list, item: object) -> None:  # type: ignore[type-arg]
        items.append(item)
        self._undo(items.pop)

    # --- customers and identities
    def owners_of(self, identities: Iterable[Identity]) -> dict[Identity, str]:
        known = self._identities
        return {i: known[i] for i in identities if i in known}

    def add_customer(self, customer: Customer, now: datetime) -> None:
        self._set(self._customers, customer.customer_id, _copy_customer(customer))

    def link_identity(self, identity: Identity, customer_id: str, now: datetime) -> None:
        if identity in self._identities:
            raise ConcurrentUpdate(f"identity {identity.kind}:{identity.value} is taken")
        self._set(self._identities, identity, customer_id)

    def unlink_identity(self, identity: Identity, customer_id: str) -> bool:
        if self._identities.get(identity) != customer_id:
            return False
        del self._identities[identity]
        self._undo(lambda: self._identities.__setitem__(identity, customer_id))
        return True

    def strong_identities_of(
        self, customer_ids: Sequence[str], kinds: frozenset[IdentityKind]
    ) -> dict[str, frozenset[Identity]]:
        wanted = set(customer_ids)
        held: dict[str, set[Identity]] = defaultdict(set)
        for identity, owner in self._identities.items():
            if owner in wanted and identity.kind in kinds:
                held[owner].add(identity)
        return {c: frozenset(ids) for c, ids in held.items()}

    def merge_customers(self, merge: Merge) -> None:
        survivor_id, merged_id = merge.survivor_id, merge.merged_id
        survivor, merged = self._customers[survivor_id], self._customers[merged_id]
        if survivor.merged_into or merged.merged_into:
            raise ConcurrentUpdate(f"customers {survivor_id} and {merged_id} changed")
        for identity, owner in list(self._identities.items()):
            if owner == merged_id:
                self._set(self._identities, identity, survivor_id)
        for case_id in list(self._cases_of.get(merged_id, ())):
            case = copy.copy(self._cases[case_id])
            case.customer_id = survivor_id
            self._store(case)
        moved = [replace(c, customer_id=survivor_id) for c in self._contacts.get(merged_id, [])]
        notes = [replace(e, customer_id=survivor_id) for e in self._entries.get(merged_id, [])]
        self._set(self._contacts, survivor_id, self._contacts[survivor_id] + moved)
        self._set(self._contacts, merged_id, [])
        self._set(
            self._entries,
            survivor_id,
            sorted(self._entries[survivor_id] + notes, key=lambda e: e.at),
        )
        self._set(self._entries, merged_id, [])
        offers = dict(self._offers.get(survivor_id, {}))
        for code, offer in self._offers.get(merged_id, {}).items():
            offers.setdefault(code, offer)
        self._set(self._offers, survivor_id, offers)
        self._set(self._offers, merged_id, {})
        kept = _copy_customer(survivor)
        kept.display_name = survivor.display_name or merged.display_name
        kept.language = survivor.language or merged.language
        if survivor.tier == "standard":
            kept.tier = merged.tier
        self._set(self._customers, survivor_id, kept)
        for customer_id, customer in list(self._customers.items()):
            if customer.merged_into == merged_id:
                self._set(self._customers, customer_id, replace_merged(customer, survivor_id))
        self._set(self._customers, merged_id, replace_merged(merged, survivor_id))
        self._append(self._merges, merge)

    def merges_into(self, customer_id: str) -> list[Merge]:
        ended_here = {customer_id} | {
            c for c, customer in self._customers.items() if customer.merged_into == customer_id
        }
        return [m for m in self._merges if m.survivor_id in ended_here]

    def record_conflict(self, conflict: IdentityConflict) -> None:
        self._append(self._conflicts, conflict)

    def conflicts_of(self, customer_id: str, limit: int) -> list[IdentityConflict]:
        mine = [c for c in self._conflicts if customer_id in c.customer_ids]
        return mine[::-1][:limit]

    def save_offers(self, customer_id: str, offers: Sequence[Offer], now: datetime) -> None:
        held = dict(self._offers.get(customer_id, {}))
        held.update((offer.code, offer) for offer in offers)
        self._set(self._offers, customer_id, held)

    def context_packets(
        self, customer_ids: Iterable[str], limits: ContextLimits, now: datetime
    ) -> dict[str, ContextPacket]:
        packets = {}
        for requested in customer_ids:
            found = self._customers.get(requested)
            if found is None:
                continue
            customer_id = found.merged_into or requested
            sources = ContextSources(
                self._customers[customer_id],
                [CaseRecord.of(self._cases[c]) for c in self._cases_of.get(customer_id, ())],
                list(self._contacts.get(customer_id, [])),
                [
                    NoteSummary(e.case_id, e.at, e.detail)
                    for e in self._entries.get(customer_id, [])
                    if e.kind is EntryKind.NOTE
                ],
                list(self._offers.get(customer_id, {}).values()),
            )
            packets[requested] = build_packet(sources, limits, now)
        return packets

    def update_customer(
        self, customer_id: str, display_name: str, tier: str, language: str
    ) -> None:
        customer = _copy_customer(self._customers[customer_id])
        customer.display_name = display_name or customer.display_name
        customer.tier = tier or customer.tier
        customer.language = language or customer.language
        self._set(self._customers, customer_id, customer)

    def get_customer(self, customer_id: str) -> Customer | None:
        customer = self._customers.get(customer_id)
        if customer is None:
            return None
        mine = sorted(
            (i for i, owner in self._identities.items() if owner == customer_id),
            key=lambda i: (i.kind.value, i.value),
        )
        return replace(_copy_customer(customer), identities=mine)

    def recent_contacts(self, customer_id: str, limit: int) -> list[Contact]:
        mine = self._contacts.get(customer_id, [])
        return sorted(mine, key=lambda c: c.occurred_at, reverse=True)[:limit]

    def add_contact(self, contact: Contact) -> None:
        self._append(self._contacts[contact.customer_id], contact)
        self._set(self._case_of_contact, contact.event_id, contact.case_id)

    def case_of_contact(self, event_id: str) -> str | None:
        return self._case_of_contact.get(event_id)

    def record(self, entry: TimelineEntry) -> None:
        self._append(self._entries[entry.customer_id], entry)

    def timeline(
        self,
        customer_id: str,
        limit: int,
        after: tuple[datetime, int] | None = None,
        channel: str | None = None,
        kinds: frozenset[EntryKind] = frozenset(),
        case_id: str | None = None,
    ) -> TimelinePage:
        mine = sorted(
            (
                (e.at, n, e)
                for n, e in enumerate(self._entries.get(customer_id, []))
                if (not channel or e.channel == channel)
                and (not kinds or e.kind in kinds)
                and (not case_id or e.case_id == case_id)
            ),
            key=lambda item: (item[0], item[1]),
        )
        if after is not None:
            mine = [item for item in mine if (item[0], item[1]) > after]
        page = mine[:limit]
        cursor = (page[-1][0], page[-1][1]) if len(mine) > limit else None
        return TimelinePage([e for _, _, e in page], cursor)

    # --- cases
    def _store(self, case: Case) -> None:
        """Keep `case` (a copy nobody else holds) and its indexes; journalled."""
        previous = self._cases.get(case.case_id)
        if previous is not None:
            self._unindex(previous)
        self._cases[case.case_id] = case
        self._index(case)

        def undo() -> None:
            self._unindex(case)
            if previous is None:
                del self._cases[case.case_id]
            else:
                self._cases[case.case_id] = previous
                self._index(previous)

        self._undo(undo)

    def _index(self, case: Case) -> None:
        self._cases_of[case.customer_id].add(case.case_id)
        if case.is_open:
            self._open[(case.customer_id, case.topic)].add(case.case_id)
        if case.owner_agent_id:
            self._by_owner[case.owner_agent_id].add(case.case_id)
        if case.status is CaseStatus.QUEUED:
            self._queued[case.case_id] = case
        elif case.status is CaseStatus.OFFERED:
            self._offered[case.case_id] = case
        elif case.status is CaseStatus.PENDING and case.slot_held_until is not None:
            self._wrapping_up[case.case_id] = case

    def _unindex(self, case: Case) -> None:
        self._cases_of[case.customer_id].discard(case.case_id)
        self._open[(case.customer_id, case.topic)].discard(case.case_id)
        if case.owner_agent_id:
            self._by_owner[case.owner_agent_id].discard(case.case_id)
        self._queued.pop(case.case_id, None)
        self._offered.pop(case.case_id, None)
        self._wrapping_up.pop(case.case_id, None)

    def get_case(self, case_id: str) -> Case | None:
        case = self._cases.get(case_id)
        return copy.copy(case) if case else None

    def ids_starting_with(self, kind: str, prefix: str, limit: int) -> list[str]:
        ids = self._cases if kind == "case" else self._customers
        return sorted(i for i in ids if i.startswith(prefix))[:limit]

    def open_case_for(self, customer_id: str, topic: str) -> Case | None:
        found = [self._cases[c] for c in self._open.get((customer_id, topic), ())]
        return copy.copy(min(found, key=lambda c: c.opened_at)) if found else None

    def _resolved_of(self, customer_id: str) -> list[Case]:
        return [
            case
            for c in self._cases_of.get(customer_id, ())
            if (case := self._cases[c]).status is CaseStatus.RESOLVED
        ]

    def last_resolved_case(self, customer_id: str, topic: str) -> Case | None:
        found = [c for c in self._resolved_of(customer_id) if c.topic == topic]
        latest = max(found, key=lambda c: c.resolved_at or c.opened_at, default=None)
        return copy.copy(latest) if latest else None

    def open_case_ids(self, customer_id: str) -> list[str]:
        return [c for c in self._cases_of.get(customer_id, ()) if self._cases[c].is_open]

    def add_case(self, case: Case) -> None:
        if case.case_id in self._cases:
            raise ConcurrentUpdate(case.case_id)
        self._store(copy.copy(case))

    def save_case(self, case: Case) -> None:
        stored = self._cases.get(case.case_id)
        if stored is None or stored.version != case.version:
            raise ConcurrentUpdate(case.case_id)
        case.version += 1
        self._store(copy.copy(case))

    def queued_cases(self, limit: int, channel: Channel | None = None) -> list[Case]:
        waiting: Iterable[Case] = self._queued.values()
        if channel is not None:
            waiting = (c for c in waiting if c.channel is channel)
        first = heapq.nsmallest(limit, waiting, key=lambda c: queue_order_key(c, self._aging))
        return [copy.copy(c) for c in first]

    def cases_due_a_step(self, now: datetime, limit: int) -> list[Case]:
        due = [c for c in self._queued.values() if (at := c.next_step_at) and at <= now]
        due.sort(key=lambda c: c.next_step_at or now)
        return [copy.copy(c) for c in due[:limit]]

    def lapsed_offers(self, now: datetime, limit: int) -> list[Case]:
        lapsed = [
            c
            for c in self._offered.values()
            if c.offer_expires_at is not None and c.offer_expires_at <= now
        ]
        lapsed.sort(key=lambda c: c.offer_expires_at or now)
        return [copy.copy(c) for c in lapsed[:limit]]

    def wrap_ups_over(self, now: datetime, limit: int) -> list[Case]:
        over = [
            c
            for c in self._wrapping_up.values()
            if (until := c.slot_held_until) is not None and until <= now
        ]
        over.sort(key=lambda c: c.slot_held_until or now)
        return [copy.copy(c) for c in over[:limit]]

    def last_resolver(self, customer_id: str) -> str | None:
        resolved = self._resolved_of(customer_id)
        latest = max(resolved, key=lambda c: c.resolved_at or c.opened_at, default=None)
        return latest.owner_agent_id if latest else None

    def list_cases(
        self, owner_agent_id: str | None, status: CaseStatus | None, limit: int
    ) -> list[Case]:
        pool: Iterable[Case] = (
            (self._cases[c] for c in self._by_owner.get(owner_agent_id, ()))
            if owner_agent_id
            else self._cases.values()
        )
        found = [c for c in pool if status is None or c.status is status]
        found.sort(key=lambda c: c.opened_at, reverse=True)
        return [copy.copy(c) for c in found[:limit]]

    def add_handoff(
        self, case_id: str, from_agent: str, to_agent: str | None, reason: str, now: datetime
    ) -> None:
        self._append(self._handoffs[case_id], (from_agent, to_agent, reason, now))

    def handoffs_of(self, case_id: str) -> list[tuple[str, str | None, str, datetime]]:
        return list(self._handoffs.get(case_id, []))

    def record_resolution(self, case: Case) -> None:
        assert case.resolved_at is not None
        resolution = _Resolution(
            case.case_id,
            case.first_channel,
            case.resolved_at,
            case.first_contact_resolved,
            case.handoff_count,
        )
        self._append(self._resolutions, resolution)
        self._set(self._latest_resolution, case.case_id, resolution)

    def revoke_resolution(self, case_id: str) -> bool:
        latest = self._latest_resolution.get(case_id)
        if latest is None or not latest.first_contact or latest.matured_at is not None:
            return False
        latest.first_contact = False
        self._undo(lambda: setattr(latest, "first_contact", True))
        return True

    def oldest_unmatured_resolution(self) -> datetime | None:
        return min((r.resolved_at for r in self._resolutions if r.matured_at is None), default=None)

    def mature_resolutions(
        self, resolved_until: datetime, now: datetime, limit: int
    ) -> list[tuple[Channel, bool]]:
        due = sorted(
            (
                r
                for r in self._resolutions
                if r.matured_at is None and r.resolved_at <= resolved_until
            ),
            key=lambda r: r.resolved_at,
        )[:limit]
        for resolution in due:
            resolution.matured_at = now
            self._undo(lambda r=resolution: setattr(r, "matured_at", None))  # type: ignore[misc]
        return [(r.first_channel, r.first_contact) for r in due]

    def resolution_report(
        self, since: datetime, until: datetime, channel: Channel | None
    ) -> ResolutionReport:
        ours = [r for r in self._resolutions if channel is None or r.first_channel is channel]
        rows = [r for r in ours if since <= r.resolved_at < until]
        matured = [r for r in ours if r.matured_at is not None and since <= r.matured_at < until]
        groups = [
            CsatGroup(s.answer.channel, s.answer.score, s.answer.band, s.answer.first_contact, sign)
            for s in self._surveys
            if channel is None or s.answer.channel is channel
            for at, sign in ((s.counted_at, 1), (s.replaced_at, -1))
            if at is not None and since <= at < until
        ]
        return ResolutionReport(
            len(rows),
            sum(1 for r in rows if r.first_contact),
            sum(1 for r in rows if r.handoffs > 0),
            sum(r.handoffs for r in rows),
            len(matured),
            sum(1 for r in matured if r.first_contact),
            csat_report(groups),
            abandoned_in(self._cases.values(), since, until, channel),
        )

    def current_survey(self, case_id: str) -> SurveyAnswer | None:
        return next(
            (s.answer for s in self._surveys if s.answer.case_id == case_id and not s.replaced_at),
            None,
        )

    def record_survey(
        self, answer: SurveyAnswer, now: datetime, replaces: SurveyAnswer | None
    ) -> None:
        for survey in self._surveys:
            if survey.answer == replaces and survey.replaced_at is None:
                survey.replaced_at = now
                self._undo(lambda s=survey: setattr(s, "replaced_at", None))  # type: ignore[misc]
        self._append(self._surveys, _Survey(answer, now))

    # --- agents
    def get_agent(self, agent_id: str) -> Agent | None:
        agent = self._agents.get(agent_id)
        return _copy_agent(agent) if agent else None

    def list_agents(
        self,
        team: str | None = None,
        presence: Presence | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Agent]:
        found = [
            _copy_agent(a)
            for _, a in sorted(self._agents.items())
            if (team is None or a.team == team)
            and (presence is None or a.presence is presence)
            and (after is None or a.agent_id > after)
        ]
        return found if limit is None else found[:limit]

    def upsert_agent(self, agent: Agent) -> None:
        stored = _copy_agent(agent)
        previous = self._agents.get(agent.agent_id)
        if previous is not None:  # as in the database: a profile change keeps the load
            stored.load = dict(previous.load)
            stored.last_assigned_at = previous.last_assigned_at
            stored.presence = previous.presence
        self._set(self._agents, agent.agent_id, stored)

    def _change_agent(self, agent_id: str, change: Callable[[Agent], None]) -> None:
        changed = _copy_agent(self._agents[agent_id])
        change(changed)
        self._set(self._agents, agent_id, changed)

    def set_presence(self, agent_id: str, presence: Presence) -> bool:
        if agent_id not in self._agents:
            return False
        self._change_agent(agent_id, lambda a: setattr(a, "presence", presence))
        return True

    def available_agents(self, channel: Channel) -> list[Agent]:
        # Every available agent who works the channel, full or not, in id order, as
        # the SQL roster gives them: matching then names the full ones' exclusion
        # (`capacity`), so explanations are the same on both paths.
        return [
            _copy_agent(a)
            for _, a in sorted(self._agents.items())
            if a.presence is Presence.AVAILABLE and a.capacity.get(channel, 0) > 0
        ]

    def note_missed_offer(self, agent_id: str) -> int:
        missed = self._missed.get(agent_id, 0) + 1
        self._set(self._missed, agent_id, missed)
        return missed

    def reset_missed_offers(self, agent_id: str) -> None:
        if agent_id in self._missed:
            self._set(self._missed, agent_id, 0)

    def reserve_capacity(self, agent_id: str, channel: Channel, now: datetime) -> bool:
        agent = self._agents.get(agent_id)
        if agent is None or agent.presence is not Presence.AVAILABLE:
            return False
        if capacity_limit(agent, channel) is not None:  # slots, units, exclusive channels
            return False

        def take(a: Agent) -> None:
            a.load[channel] = a.load.get(channel, 0) + 1
            a.last_assigned_at = now

        self._change_agent(agent_id, take)
        return True

    def release_capacity(self, agent_id: str, channel: Channel) -> None:
        if agent_id not in self._agents:
            return

        def free(a: Agent) -> None:
            a.load[channel] = max(0, a.load.get(channel, 0) - 1)

        self._change_agent(agent_id, free)

    def queue_stats(self, now: datetime) -> dict[str, QueueStat]:
        return queue_stats_of(self._queued.values(), now)

    def staffing(self) -> dict[Channel, ChannelStaffing]:
        return staffing_of(self._agents.values())

    # --- idempotency
    def processed_among(self, event_ids: Iterable[str]) -> set[str]:
        return {e for e in event_ids if e in self._processed}

    def mark_processed(self, event_id: str, now: datetime) -> None:
        if event_id not in self._processed:
            self._processed.add(event_id)
            self._undo(lambda: self._processed.discard(event_id))


def _copy_agent(agent: Agent) -> Agent:
    copied = copy.copy(agent)
    copied.load = dict(agent.load)
    return copied


def _copy_customer(customer: Customer) -> Customer:
    copied = copy.copy(customer)
    copied.identities = list(customer.identities)
    return copied


def replace_merged(customer: Customer, survivor_id: str) -> Customer:
    merged = _copy_customer(customer)
    merged.merged_into = survivor_id
    return merged
