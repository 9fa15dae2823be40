"""In-memory fakes of the ports, for microsecond unit tests of the handlers."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

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
from ticketrouter.service_layer.ports import ConcurrentUpdate, Repository, UnitOfWork


class FakeClock:
    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self._now += timedelta(**delta)


class FakeRepository(Repository):
    def __init__(self, aging_per_minute: float = 0.0) -> None:
        self.customers: dict[str, Customer] = {}
        self.identities: dict[Identity, str] = {}
        self.merges: list[Merge] = []
        self.conflicts: list[IdentityConflict] = []
        self.offers: dict[str, dict[str, Offer]] = {}
        self.missed_offers: dict[str, int] = {}
        self.aging_per_minute = aging_per_minute
        self.cases: dict[str, Case] = {}
        self.contacts: list[Contact] = []
        self.agents: dict[str, Agent] = {}
        self.handoffs: list[tuple[str, str, str | None, str, datetime]] = []
        self.processed: set[str] = set()
        self.resolutions: list[list] = []  # type: ignore[type-arg]
        # [answer, counted at, replaced at or None]
        self.surveys: list[list] = []  # type: ignore[type-arg]
        self.entries: list[TimelineEntry] = []

    def owners_of(self, identities: Iterable[Identity]) -> dict[Identity, str]:
        return {i: self.identities[i] for i in identities if i in self.identities}

    def add_customer(self, customer: Customer, now: datetime) -> None:
        self.customers[customer.customer_id] = customer

    def link_identity(self, identity: Identity, customer_id: str, now: datetime) -> None:
        assert identity not in self.identities, "an identity belongs to one customer"
        self.identities[identity] = customer_id

    def unlink_identity(self, identity: Identity, customer_id: str) -> bool:
        if self.identities.get(identity) != customer_id:
            return False
        del self.identities[identity]
        return True

    def strong_identities_of(
        self, customer_ids: Sequence[str], kinds: frozenset[IdentityKind]
    ) -> dict[str, frozenset[Identity]]:
        held: dict[str, set[Identity]] = {}
        for identity, owner in self.identities.items():
            if owner in customer_ids and identity.kind in kinds:
                held.setdefault(owner, set()).add(identity)
        return {c: frozenset(ids) for c, ids in held.items()}

    def merge_customers(self, merge: Merge) -> None:
        survivor_id, merged_id = merge.survivor_id, merge.merged_id
        survivor, merged = self.customers[survivor_id], self.customers[merged_id]
        if survivor.merged_into or merged.merged_into:
            raise ConcurrentUpdate(f"customers {survivor_id} and {merged_id} changed")
        for identity, owner in list(self.identities.items()):
            if owner == merged_id:
                self.identities[identity] = survivor_id
        for case in self.cases.values():
            if case.customer_id == merged_id:
                case.customer_id = survivor_id
        self.contacts = [
            replace(c, customer_id=survivor_id) if c.customer_id == merged_id else c
            for c in self.contacts
        ]
        self.entries = [
            replace(e, customer_id=survivor_id) if e.customer_id == merged_id else e
            for e in self.entries
        ]
        mine = self.offers.setdefault(survivor_id, {})
        for code, offer in self.offers.pop(merged_id, {}).items():
            mine.setdefault(code, offer)
        survivor.display_name = survivor.display_name or merged.display_name
        survivor.language = survivor.language or merged.language
        if survivor.tier == "standard":
            survivor.tier = merged.tier
        for customer in self.customers.values():
            if customer.merged_into == merged_id:
                customer.merged_into = survivor_id
        merged.merged_into = survivor_id
        self.merges.append(merge)

    def merges_into(self, customer_id: str) -> list[Merge]:
        ended_here = {customer_id} | {
            c for c, customer in self.customers.items() if customer.merged_into == customer_id
        }
        return [m for m in self.merges if m.survivor_id in ended_here]

    def record_conflict(self, conflict: IdentityConflict) -> None:
        self.conflicts.append(conflict)

    def conflicts_of(self, customer_id: str, limit: int) -> list[IdentityConflict]:
        mine = [c for c in self.conflicts if customer_id in c.customer_ids]
        return mine[::-1][:limit]

    def save_offers(self, customer_id: str, offers: Sequence[Offer], now: datetime) -> None:
        held = self.offers.setdefault(customer_id, {})
        for offer in offers:
            held[offer.code] = offer

    def context_packets(
        self, customer_ids: Iterable[str], limits: ContextLimits, now: datetime
    ) -> dict[str, ContextPacket]:
        packets = {}
        for requested in customer_ids:
            customer = self.customers.get(requested)
            if customer is None:
                continue
            customer_id = customer.merged_into or requested
            customer = self.customers[customer_id]
            sources = ContextSources(
                customer,
                [CaseRecord.of(c) for c in self.cases.values() if c.customer_id == customer_id],
                [c for c in self.contacts if c.customer_id == customer_id],
                [
                    NoteSummary(e.case_id, e.at, e.detail)
                    for e in self.entries
                    if e.customer_id == customer_id and e.kind is EntryKind.NOTE
                ],
                list(self.offers.get(customer_id, {}).values()),
            )
            packets[requested] = build_packet(sources, limits, now)
        return packets

    def update_customer(
        self, customer_id: str, display_name: str, tier: str, language: str
    ) -> None:
        customer = self.customers[customer_id]
        customer.display_name = display_name or customer.display_name
        customer.tier = tier or customer.tier
        customer.language = language or customer.language

    def get_customer(self, customer_id: str) -> Customer | None:
        customer = self.customers.get(customer_id)
        if customer is None:
            return None
        mine = sorted(
            (i for i, owner in self.identities.items() if owner == customer_id),
            key=lambda i: (i.kind.value, i.value),
        )
        return Customer(
            customer.customer_id,
            customer.display_name,
            customer.tier,
            customer.language,
            mine,
            customer.merged_into,
        )

    def recent_contacts(self, customer_id: str, limit: int) -> list[Contact]:
        mine = [c for c in self.contacts if c.customer_id == customer_id]
        return sorted(mine, key=lambda c: c.occurred_at, reverse=True)[:limit]

    def add_contact(self, contact: Contact) -> None:
        self.contacts.append(contact)

    def ids_starting_with(self, kind: str, prefix: str, limit: int) -> list[str]:
        ids = self.cases if kind == "case" else self.customers
        return sorted(i for i in ids if i.startswith(prefix))[:limit]

    def case_of_contact(self, event_id: str) -> str | None:
        return next((c.case_id for c in self.contacts if c.event_id == event_id), None)

    def record(self, entry: TimelineEntry) -> None:
        self.entries.append(entry)

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
                for n, e in enumerate(self.entries)
                if e.customer_id == customer_id
                and (not channel or e.channel == channel)
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

    def get_case(self, case_id: str) -> Case | None:
        case = self.cases.get(case_id)
        return copy.deepcopy(case) if case else None

    def open_case_for(self, customer_id: str, topic: str) -> Case | None:
        found = [
            c
            for c in self.cases.values()
            if c.customer_id == customer_id and c.topic == topic and c.is_open
        ]
        return copy.deepcopy(min(found, key=lambda c: c.opened_at)) if found else None

    def last_resolved_case(self, customer_id: str, topic: str) -> Case | None:
        found = [
            c
            for c in self.cases.values()
            if c.customer_id == customer_id and c.topic == topic and c.status is CaseStatus.RESOLVED
        ]
        return (
            copy.deepcopy(max(found, key=lambda c: c.resolved_at or c.opened_at)) if found else None
        )

    def open_case_ids(self, customer_id: str) -> list[str]:
        return [
            c.case_id for c in self.cases.values() if c.customer_id == customer_id and c.is_open
        ]

    def add_case(self, case: Case) -> None:
        assert case.case_id not in self.cases
        self.cases[case.case_id] = copy.deepcopy(case)

    def save_case(self, case: Case) -> None:
        stored = self.cases[case.case_id]
        if stored.version != case.version:
            raise ConcurrentUpdate(case.case_id)
        case.version += 1
        self.cases[case.case_id] = copy.deepcopy(case)

    def queued_cases(self, limit: int, channel: Channel | None = None) -> list[Case]:
        waiting = [
            c
            for c in self.cases.values()
            if c.status is CaseStatus.QUEUED and (channel is None or c.channel is channel)
        ]
        waiting.sort(key=lambda c: queue_order_key(c, self.aging_per_minute))
        return [copy.deepcopy(c) for c in waiting[:limit]]

    def cases_due_a_step(self, now: datetime, limit: int) -> list[Case]:
        due = [
            c
            for c in self.cases.values()
            if c.status is CaseStatus.QUEUED and c.next_step_at and c.next_step_at <= now
        ]
        due.sort(key=lambda c: c.next_step_at or now)
        return [copy.deepcopy(c) for c in due[:limit]]

    def lapsed_offers(self, now: datetime, limit: int) -> list[Case]:
        return self._due(CaseStatus.OFFERED, lambda c: c.offer_expires_at, now, limit)

    def wrap_ups_over(self, now: datetime, limit: int) -> list[Case]:
        return self._due(CaseStatus.PENDING, lambda c: c.slot_held_until, now, limit)

    def _due(
        self,
        status: CaseStatus,
        when: Callable[[Case], datetime | None],
        now: datetime,
        limit: int,
    ) -> list[Case]:
        """Cases in `status` whose time `when` has come, the earliest first."""
        due = [
            c
            for c in self.cases.values()
            if c.status is status and (at := when(c)) is not None and at <= now
        ]
        due.sort(key=lambda c: when(c) or now)
        return [copy.deepcopy(c) for c in due[:limit]]

    def last_resolver(self, customer_id: str) -> str | None:
        resolved = [
            c
            for c in self.cases.values()
            if c.customer_id == customer_id and c.status is CaseStatus.RESOLVED
        ]
        latest = max(resolved, key=lambda c: c.resolved_at or c.opened_at, default=None)
        return latest.owner_agent_id if latest else None

    def note_missed_offer(self, agent_id: str) -> int:
        self.missed_offers[agent_id] = self.missed_offers.get(agent_id, 0) + 1
        return self.missed_offers[agent_id]

    def reset_missed_offers(self, agent_id: str) -> None:
        self.missed_offers.pop(agent_id, None)

    def list_cases(
        self, owner_agent_id: str | None, status: CaseStatus | None, limit: int
    ) -> list[Case]:
        found = [
            c
            for c in self.cases.values()
            if (not owner_agent_id or c.owner_agent_id == owner_agent_id)
            and (status is None or c.status is status)
        ]
        found.sort(key=lambda c: c.opened_at, reverse=True)
        return [copy.deepcopy(c) for c in found[:limit]]

    def add_handoff(
        self, case_id: str, from_agent: str, to_agent: str | None, reason: str, now: datetime
    ) -> None:
        self.handoffs.append((case_id, from_agent, to_agent, reason, now))

    def record_resolution(self, case: Case) -> None:
        assert case.resolved_at is not None
        self.resolutions.append(
            [
                case.case_id,
                case.first_channel,
                case.resolved_at,
                case.first_contact_resolved,
                case.handoff_count,
                None,  # matured at
            ]
        )

    def revoke_resolution(self, case_id: str) -> bool:
        for resolution in reversed(self.resolutions):
            if resolution[0] == case_id:
                revoked: bool = resolution[3] and resolution[5] is None
                if revoked:
                    resolution[3] = False
                return revoked
        return False

    def oldest_unmatured_resolution(self) -> datetime | None:
        return min((r[2] for r in self.resolutions if r[5] is None), default=None)

    def mature_resolutions(
        self, resolved_until: datetime, now: datetime, limit: int
    ) -> list[tuple[Channel, bool]]:
        due = sorted(
            (r for r in self.resolutions if r[5] is None and r[2] <= resolved_until),
            key=lambda r: r[2],
        )[:limit]
        for resolution in due:
            resolution[5] = now
        return [(r[1], r[3]) for r in due]

    def resolution_report(
        self, since: datetime, until: datetime, channel: Channel | None
    ) -> ResolutionReport:
        ours = [r for r in self.resolutions if channel is None or r[1] is channel]
        rows = [r for r in ours if since <= r[2] < until]
        matured = [r for r in ours if r[5] is not None and since <= r[5] < until]
        return ResolutionReport(
            len(rows),
            sum(1 for r in rows if r[3]),
            sum(1 for r in rows if r[4] > 0),
            sum(r[4] for r in rows),
            len(matured),
            sum(1 for r in matured if r[3]),
            csat_report(self._csat_groups(since, until, channel)),
            abandoned_in(self.cases.values(), since, until, channel),
        )

    def _csat_groups(
        self, since: datetime, until: datetime, channel: Channel | None
    ) -> list[CsatGroup]:
        groups = []
        for answer, counted, replaced in self.surveys:
            if channel is not None and answer.channel is not channel:
                continue
            for at, sign in ((counted, 1), (replaced, -1)):
                if at is not None and since <= at < until:
                    groups.append(
                        CsatGroup(
                            answer.channel, answer.score, answer.band, answer.first_contact, sign
                        )
                    )
        return groups

    def current_survey(self, case_id: str) -> SurveyAnswer | None:
        return next(
            (a for a, _, replaced in self.surveys if a.case_id == case_id and replaced is None),
            None,
        )

    def record_survey(
        self, answer: SurveyAnswer, now: datetime, replaces: SurveyAnswer | None
    ) -> None:
        for survey in self.surveys:
            if survey[0] == replaces and survey[2] is None:
                survey[2] = now
        self.surveys.append([answer, now, None])

    def handoffs_of(self, case_id: str) -> list[tuple[str, str | None, str, datetime]]:
        return [(f, t, r, at) for c, f, t, r, at in self.handoffs if c == case_id]

    def get_agent(self, agent_id: str) -> Agent | None:
        agent = self.agents.get(agent_id)
        return copy.deepcopy(agent) if agent else None

    def list_agents(
        self,
        team: str | None = None,
        presence: Presence | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Agent]:
        found = [
            copy.deepcopy(a)
            for _, a in sorted(self.agents.items())
            if (team is None or a.team == team)
            and (presence is None or a.presence is presence)
            and (after is None or a.agent_id > after)
        ]
        return found if limit is None else found[:limit]

    def upsert_agent(self, agent: Agent) -> None:
        previous = self.agents.get(agent.agent_id)
        stored = copy.deepcopy(agent)
        if previous is not None:  # like the database: profile changes never touch the load
            stored.load = dict(previous.load)
            stored.last_assigned_at = previous.last_assigned_at
        self.agents[agent.agent_id] = stored

    def set_presence(self, agent_id: str, presence: Presence) -> bool:
        if agent_id not in self.agents:
            return False
        self.agents[agent_id].presence = presence
        return True

    def available_agents(self, channel: Channel) -> list[Agent]:
        return [
            copy.deepcopy(a)
            for a in self.agents.values()
            if a.presence is Presence.AVAILABLE and a.free_capacity(channel) > 0
        ]

    def reserve_capacity(self, agent_id: str, channel: Channel, now: datetime) -> bool:
        agent = self.agents.get(agent_id)
        if agent is None or agent.presence is not Presence.AVAILABLE:
            return False
        if capacity_limit(agent, channel) is not None:  # slots, units, exclusive channels
            return False
        agent.load[channel] = agent.load.get(channel, 0) + 1
        agent.last_assigned_at = now
        return True

    def release_capacity(self, agent_id: str, channel: Channel) -> None:
        agent = self.agents[agent_id]
        agent.load[channel] = max(0, agent.load.get(channel, 0) - 1)

    def queue_stats(self, now: datetime) -> dict[str, QueueStat]:
        return queue_stats_of(
            (c for c in self.cases.values() if c.status is CaseStatus.QUEUED), now
        )

    def staffing(self) -> dict[Channel, ChannelStaffing]:
        return staffing_of(self.agents.values())

    def processed_among(self, event_ids: Iterable[str]) -> set[str]:
        return {e for e in event_ids if e in self.processed}

    def mark_processed(self, event_id: str, now: datetime) -> None:
        self.processed.add(event_id)


class FakeUnitOfWork(UnitOfWork):
    """Commits are recorded; the repository keeps state across units, like a database."""

    def __init__(
        self,
        repo: FakeRepository | None = None,
        context_limits: ContextLimits | None = ContextLimits(),  # noqa: B008
    ) -> None:
        super().__init__(context_limits)
        self.repo: FakeRepository = repo or FakeRepository()
        self.committed = 0

    def _commit(self) -> None:
        self.committed += 1

    def rollback(self) -> None:
        pass
