"""The SQL repository: SQLModel tables in, domain objects out.

Hot-path writes are Core statements, and capacity is reserved with one
conditional UPDATE so that no number of router processes can over-assign.

A batch's rows are written set-based: new customers, identities, cases, contacts,
timeline entries and processed ids wait in memory and go out as one multi-row
statement per table when the unit of work commits; each case changed by the batch is
written once, with its final state, against the version the transaction read. Any
read that could see those rows writes them first (`_read`), so the transaction
never reads behind its own writes; the batch's hot lookups (owners, open and last
resolved cases) come from the transaction cache and need no such write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy import case as sql_case
from sqlmodel import Session, col

from ticketrouter.adapters import context_reader, identity_graph, queries
from ticketrouter.adapters.agent_profiles import AgentProfiles, Profile
from ticketrouter.adapters.orm import (
    AgentChannelRow,
    AgentRow,
    CaseRow,
    ContactRow,
    CustomerRow,
    HandoffRow,
    IdentityRow,
    ProcessedEventRow,
    ResolutionRow,
    SurveyRow,
    TimelineRow,
)
from ticketrouter.adapters.records import (
    EPOCH,
    case_from_row,
    contact_from_row,
    explanation_to_dict,
    plan_to_dict,
    requirements_to_dict,
    utc,
)
from ticketrouter.adapters.transaction_cache import TransactionCache
from ticketrouter.domain.agents import Agent
from ticketrouter.domain.capacity import capacity_limit
from ticketrouter.domain.cases import Case, CaseStatus
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.context import ContextLimits, ContextPacket, build_packet
from ticketrouter.domain.customers import Contact, Customer, Offer
from ticketrouter.domain.identity import Identity, IdentityKind
from ticketrouter.domain.merging import IdentityConflict, Merge
from ticketrouter.domain.reports import ChannelStaffing, QueueStat, ResolutionReport
from ticketrouter.domain.roster import RosterSnapshot
from ticketrouter.domain.surveys import CsatGroup, SurveyAnswer, csat_report, handoff_band
from ticketrouter.domain.timeline import EntryKind, TimelineEntry, TimelinePage
from ticketrouter.service_layer.ports import ConcurrentUpdate, Repository, SlotTaken

_CHUNK = 500  # keys per IN list
_CHANNELS = {c.value: c for c in Channel}  # a dict lookup is cheaper than Channel(value)
_PRESENCE = {p.value: p for p in Presence}


class SqlRepository(Repository):
    def __init__(
        self,
        session: Session,
        profiles: AgentProfiles | None = None,
        aging_per_minute: float = 0.0,
    ) -> None:
        self.session = session
        self._aging = aging_per_minute
        self._postgres = session.get_bind().dialect.name == "postgresql"
        self._profiles = profiles or AgentProfiles()
        # The available roster as this transaction saw it, indexed for matching.
        self._available: RosterSnapshot | None = None
        # SQLite: slots the transaction took or freed, by (agent, channel): the load it
        # read and the load it leaves, written at flush (see reserve_capacity).
        self._slot_changes: dict[tuple[str, Channel], tuple[int, int]] = {}
        # PostgreSQL: what the transaction took (+) and freed (-) on each slot row,
        # applied at commit under the agents' locks (see _settle_slots).
        self._slot_deltas: dict[tuple[str, Channel], int] = {}
        self._multi_rowcount = session.get_bind().dialect.supports_sane_multi_rowcount
        self._pending_customers: list[dict[str, Any]] = []
        self._pending_identities: list[dict[str, Any]] = []
        self._new_cases: dict[str, Case] = {}
        # case id -> (the version the database holds, the case as it is now)
        self._changed_cases: dict[str, tuple[int, Case]] = {}
        self._pending_contacts: list[dict[str, Any]] = []
        self._pending_processed: list[dict[str, Any]] = []
        self._pending_timeline: list[dict[str, Any]] = []
        self._pending_surveys: list[dict[str, Any]] = []
        self._pending_touches: dict[str, datetime] = {}  # agent -> last assignment
        self._pending_releases: set[str] = set()  # agents who freed a slot
        self._known = TransactionCache()

    def _run(self, statement: Any, params: Any = None) -> Any:
        """Execute on the session's connection: Core speed, the session's transaction."""
        return self.session.connection().execute(statement, params)

    def _read(self, statement: Any, params: Any = None) -> Any:
        """A read that must see this transaction's buffered rows: they are written first."""
        self.flush()
        return self._run(statement, params)

    def flush(self) -> None:
        """Write the rows buffered for batching, one statement per table."""
        if self._pending_customers:
            self._run(queries.INSERT_CUSTOMER, self._pending_customers)
            self._pending_customers = []
        if self._pending_identities:
            self._run(queries.INSERT_IDENTITY, self._pending_identities)
            self._pending_identities = []
        if self._new_cases:
            self._run(
                queries.INSERT_CASE,
                [
                    {**_case_values(case, self._aging), "version": case.version}
                    for case in self._new_cases.values()
                ],
            )
            self._new_cases = {}
        if self._changed_cases:
            self._write_changed_cases()
        if self._pending_contacts:
            self._run(insert(ContactRow), self._pending_contacts)
            self._pending_contacts = []
        if self._pending_processed:
            self._run(insert(ProcessedEventRow), self._pending_processed)
            self._pending_processed = []
        if self._pending_timeline:
            self._run(insert(TimelineRow), self._pending_timeline)
            self._pending_timeline = []
        if self._pending_surveys:
            self._run(insert(SurveyRow), self._pending_surveys)
            self._pending_surveys = []
        if self._slot_changes:
            self._write_slot_changes()

    def flush_all(self) -> None:
        """flush, and what the transaction did to agents: their slots on PostgreSQL,
        their last-assignment times and busy stretches everywhere. Written only here,
        when the unit of work commits, after every other row: the agents' rows are
        locked in one statement in agent order and nothing else is waited for while
        they are held, so two workers touching the same agents queue for each other's
        commit and can never deadlock (a lock taken mid-batch, in routing order, would
        hold an agent out of order while the batch goes on to reserve and release)."""
        self.flush()
        if self._postgres:
            self._settle_slots()
        settled = sorted(self._pending_touches.keys() | self._pending_releases)
        if settled:
            touches = self._pending_touches
            self._run(
                queries.SETTLE_AGENT,
                [{"b_agent_id": a, "last_assigned_at": touches.get(a)} for a in settled],
            )
            self._pending_touches = {}
            self._pending_releases = set()

    def _write_slot_changes(self) -> None:
        """Each changed slot row in one statement, in agent order, applied only to the
        load the transaction read and never above capacity."""
        params = [
            {
                "b_agent_id": agent_id,
                "b_channel": channel.value,
                "b_read": read,
                "b_load": load,
            }
            for (agent_id, channel), (read, load) in sorted(self._slot_changes.items())
        ]
        self._slot_changes = {}
        if self._run(queries.SET_SLOT_LOAD, params).rowcount != len(params):
            raise ConcurrentUpdate("an agent's load changed outside this transaction")

    def _settle_slots(self) -> None:
        """PostgreSQL: apply the slots the transaction took and freed. The agents it
        touched are locked first, in agent order, in one statement; every slot change
        of every transaction waits for these locks, so the loads read next are exact
        until commit. Frees always apply; each contact taken must still fit under the
        same rule as matching (capacity_limit: slots, units, exclusive channels) and
        the agent must still be available, or the transaction's decisions were taken
        on a roster other workers have filled since: SlotTaken."""
        touched = {a for a, _ in self._slot_deltas}
        agent_ids = sorted(touched | self._pending_touches.keys() | self._pending_releases)
        if not agent_ids:
            return
        locked = {a: (p, u) for a, p, u in self._run(queries.LOCK_AGENTS, {"ids": agent_ids})}
        deltas, self._slot_deltas = self._slot_deltas, {}
        if not deltas:
            return
        held = _AgentChannels()
        rows = self._run(queries.slots_of_agents(sorted(touched))).all()
        for agent_id, channel, slots, used, cost, exclusive in rows:
            held.add(agent_id, _CHANNELS[channel], slots, used, cost, exclusive)
        params: list[dict[str, Any]] = []
        taken: list[tuple[str, Channel]] = []
        for agent_id in sorted(touched):
            load = held.load.get(agent_id, {})
            mine = {c: d for (a, c), d in deltas.items() if a == agent_id and d}
            for channel, delta in mine.items():
                if delta < 0:
                    load[channel] = max(0, load.get(channel, 0) + delta)
            fresh = Agent(
                agent_id=agent_id,
                name="",
                team="",
                skills={},
                authority={},
                languages=frozenset(),
                capacity=held.capacity.get(agent_id, {}),
                load=load,
                units=locked.get(agent_id, ("", 0))[1],
                unit_costs=held.costs.get(agent_id, {}),
                exclusive_channels=held.exclusive.get(agent_id, frozenset()),
            )
            available = locked.get(agent_id, ("", 0))[0] == Presence.AVAILABLE.value
            for channel in sorted(c for c, d in mine.items() if d > 0):
                for _ in range(mine[channel]):
                    if not available or capacity_limit(fresh, channel) is not None:
                        taken.append((agent_id, channel))
                        break
                    load[channel] = load.get(channel, 0) + 1
            params.extend(
                {"b_agent_id": agent_id, "b_channel": c.value, "b_load": load.get(c, 0)}
                for c in sorted(mine)
            )
        if taken:
            raise SlotTaken(taken)
        if params:  # changes that cancelled out (a slot taken and freed) write nothing
            self._run(queries.SETTLE_SLOT_LOAD, params)

    def _write_changed_cases(self) -> None:
        """One UPDATE per case, each applying only to the version this transaction read
        (optimistic concurrency), in case-id order so two writers never deadlock."""
        params = []
        for case_id in sorted(self._changed_cases):
            read_version, case = self._changed_cases[case_id]
            values = _case_values(case, self._aging)
            del values["id"]
            params.append(
                {**values, "version": case.version, "b_id": case_id, "b_version": read_version}
            )
        self._changed_cases = {}
        if self._multi_rowcount:
            if self._run(queries.SAVE_CASE, params).rowcount != len(params):
                raise ConcurrentUpdate("a case of this batch changed concurrently")
            return
        # psycopg2 does not report the rows of each statement of an executemany.
        for one in params:
            if self._run(queries.SAVE_CASE, one).rowcount != 1:
                raise ConcurrentUpdate(f"case {one['b_id']} changed concurrently")

    # --- customers and identities -------------------------------------------------
    def owners_of(self, identities: Iterable[Identity]) -> dict[Identity, str]:
        wanted = list(identities)
        self._load_owners([i for i in wanted if i not in self._known.owners])
        owners = self._known.owners
        return {i: owner for i in wanted if (owner := owners.get(i)) is not None}

    def _load_owners(self, identities: Sequence[Identity]) -> None:
        if not identities:
            return
        for start in range(0, len(identities), _CHUNK):
            chunk = identities[start : start + _CHUNK]
            for identity in chunk:
                self._known.owners[identity] = None
            rows = self._run(queries.owners_of([(i.kind.value, i.value) for i in chunk]))
            for kind, value, customer_id in rows:
                self._known.owners[Identity(IdentityKind(kind), value)] = customer_id

    def prefetch(self, identities: Iterable[Identity]) -> None:
        """Load a batch's identities, their customers' open cases and every identity
        they hold (for the strong-identifier check), and the latest resolved case per
        topic (reopening, relationship), in a few queries."""
        self._load_owners(list(dict.fromkeys(i for i in identities if i not in self._known.owners)))
        customers = sorted(
            {c for c in self._known.owners.values() if c is not None} - self._known.fully_loaded
        )
        for start in range(0, len(customers), _CHUNK):
            chunk = customers[start : start + _CHUNK]
            self._hold_customers(chunk)
            self._load_identities([c for c in chunk if c not in self._known.identities])
            rows = self._read(queries.open_cases_of(chunk)).mappings()
            for row in rows:  # oldest first: the first per topic is the one contacts join
                case = self._known.remember(case_from_row(row))
                self._known.open_cases.setdefault((case.customer_id, case.topic), case)
            self._known.fully_loaded.update(chunk)
            latest = self._run(queries.latest_resolved_of(chunk)).mappings()
            self._known.loaded_resolved(chunk, [self._case_of(row) for row in latest])

    def _hold_customers(self, customer_ids: Sequence[str]) -> None:
        """On PostgreSQL, share-lock the customers this transaction is about to use: a
        concurrent merge of one of them waits for us, or we see it and retry (rather
        than attach new rows to a customer that was just merged away). SQLite runs one
        writer at a time, so it needs no lock."""
        if not self._postgres:
            return
        merged = [
            customer_id
            for customer_id, merged_into in self._run(
                select(col(CustomerRow.id), col(CustomerRow.merged_into))
                .where(col(CustomerRow.id).in_(customer_ids))
                .with_for_update(read=True)
            )
            if merged_into is not None
        ]
        if merged:
            raise ConcurrentUpdate(f"customers {merged} were merged concurrently")

    def add_customer(self, customer: Customer, now: datetime) -> None:
        self._pending_customers.append(
            {
                "id": customer.customer_id,
                "display_name": customer.display_name,
                "tier": customer.tier,
                "language": customer.language,
                "created_at": now,
                "merged_into": None,
            }
        )
        self._known.new_customer(customer.customer_id)

    def link_identity(self, identity: Identity, customer_id: str, now: datetime) -> None:
        self._known.linked(identity, customer_id)
        self._pending_identities.append(
            {
                "kind": identity.kind.value,
                "value": identity.value,
                "customer_id": customer_id,
                "linked_at": now,
            }
        )

    def unlink_identity(self, identity: Identity, customer_id: str) -> bool:
        self.flush()
        unlinked = identity_graph.unlink(self._run, identity, customer_id)
        if unlinked:
            self._known.unlinked(identity, customer_id)
        return unlinked

    def strong_identities_of(
        self, customer_ids: Sequence[str], kinds: frozenset[IdentityKind]
    ) -> dict[str, frozenset[Identity]]:
        """From the transaction cache: asking must not write the batch's buffered rows
        early (a returning customer with a new account id on every contact would
        split the batch into a set of statements per contact)."""
        if not customer_ids or not kinds:
            return {}
        self._load_identities([c for c in customer_ids if c not in self._known.identities])
        held = {
            customer_id: frozenset(
                i for i in self._known.identities[customer_id] if i.kind in kinds
            )
            for customer_id in customer_ids
        }
        return {customer_id: strong for customer_id, strong in held.items() if strong}

    def _load_identities(self, customer_ids: Sequence[str]) -> None:
        """What the database holds (read without writing first) plus what this
        transaction links and has not written yet."""
        if not customer_ids:
            return
        for start in range(0, len(customer_ids), _CHUNK):
            chunk = customer_ids[start : start + _CHUNK]
            found = identity_graph.identities_of(self._run, chunk)
            for customer_id in chunk:
                self._known.identities[customer_id] = found.get(customer_id, set())
        wanted = set(customer_ids)
        for row in self._pending_identities:
            if row["customer_id"] in wanted:
                self._known.identities[row["customer_id"]].add(
                    Identity(IdentityKind(row["kind"]), row["value"])
                )

    def merge_customers(self, merge: Merge) -> None:
        self.flush()
        identity_graph.merge(self._run, merge)
        self._known.merged(merge.survivor_id, merge.merged_id)

    def merges_into(self, customer_id: str) -> list[Merge]:
        return identity_graph.merges_into(self._read, customer_id)

    def record_conflict(self, conflict: IdentityConflict) -> None:
        identity_graph.record_conflict(self._run, conflict)

    def conflicts_of(self, customer_id: str, limit: int) -> list[IdentityConflict]:
        return identity_graph.conflicts_of(self._read, customer_id, limit)

    def save_offers(self, customer_id: str, offers: Sequence[Offer], now: datetime) -> None:
        self.flush()
        identity_graph.save_offers(self._run, customer_id, offers, now)

    def context_packets(
        self, customer_ids: Iterable[str], limits: ContextLimits, now: datetime
    ) -> dict[str, ContextPacket]:
        self.flush()
        sources = context_reader.read_sources(self._run, list(customer_ids), limits, now)
        return {c: build_packet(s, limits, now) for c, s in sources.items()}

    def update_customer(
        self, customer_id: str, display_name: str, tier: str, language: str
    ) -> None:
        changes = {
            k: v
            for k, v in (("display_name", display_name), ("tier", tier), ("language", language))
            if v
        }
        if changes:
            self.flush()
            self._run(
                update(CustomerRow).where(col(CustomerRow.id) == customer_id).values(**changes)
            )

    def get_customer(self, customer_id: str) -> Customer | None:
        # Core, not session.get: the session's identity map would not see a merge
        # made by an UPDATE earlier in this transaction.
        row = self._read(select(CustomerRow).where(col(CustomerRow.id) == customer_id)).first()
        if row is None:
            return None
        identities = self._read(
            select(col(IdentityRow.kind), col(IdentityRow.value))
            .where(col(IdentityRow.customer_id) == customer_id)
            .order_by(col(IdentityRow.kind), col(IdentityRow.value))
        )
        return Customer(
            row.id,
            row.display_name,
            row.tier,
            row.language,
            [Identity(IdentityKind(k), v) for k, v in identities],
            row.merged_into,
        )

    def recent_contacts(self, customer_id: str, limit: int) -> list[Contact]:
        self.flush()
        rows = self._run(
            select(ContactRow)
            .where(col(ContactRow.customer_id) == customer_id)
            .order_by(col(ContactRow.occurred_at).desc())
            .limit(limit)
        ).mappings()
        return [contact_from_row(r) for r in rows]

    def add_contact(self, contact: Contact) -> None:
        self._pending_contacts.append(
            {
                "event_id": contact.event_id,
                "customer_id": contact.customer_id,
                "case_id": contact.case_id,
                "channel": contact.channel.value,
                "topic": contact.topic,
                "subject": contact.subject[:500],
                "occurred_at": contact.occurred_at,
                "outcome": contact.outcome,
            }
        )

    def case_of_contact(self, event_id: str) -> str | None:
        self.flush()
        found: str | None = self._run(
            select(col(ContactRow.case_id)).where(col(ContactRow.event_id) == event_id)
        ).scalar_one_or_none()
        return found

    def record(self, entry: TimelineEntry) -> None:
        self._pending_timeline.append(
            {
                "customer_id": entry.customer_id,
                "at": entry.at,
                "kind": entry.kind.value,
                "case_id": entry.case_id,
                "channel": entry.channel,
                "detail": entry.detail[:500],
            }
        )

    def timeline(
        self,
        customer_id: str,
        limit: int,
        after: tuple[datetime, int] | None = None,
        channel: str | None = None,
        kinds: frozenset[EntryKind] = frozenset(),
        case_id: str | None = None,
    ) -> TimelinePage:
        self.flush()
        t = queries.timeline
        query = select(t).where(t.c.customer_id == customer_id)
        if after is not None:
            at, last_id = after
            query = query.where(or_(t.c.at > at, and_(t.c.at == at, t.c.id > last_id)))
        if channel:
            query = query.where(t.c.channel == channel)
        if kinds:
            query = query.where(t.c.kind.in_(sorted(k.value for k in kinds)))
        if case_id:
            query = query.where(t.c.case_id == case_id)
        rows = self._run(query.order_by(t.c.at, t.c.id).limit(limit + 1)).all()
        entries = [
            TimelineEntry(
                r.customer_id,
                utc(r.at) or EPOCH,
                EntryKind(r.kind),
                r.case_id,
                r.channel,
                r.detail,
            )
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        cursor = (utc(rows[limit - 1].at) or EPOCH, rows[limit - 1].id) if more else None
        return TimelinePage(entries, cursor)

    # --- cases ----------------------------------------------------------------------
    def _case_of(self, row: Any) -> Case:
        return self._known.remember(case_from_row(row))

    def ids_starting_with(self, kind: str, prefix: str, limit: int) -> list[str]:
        column = col(CaseRow.id) if kind == "case" else col(CustomerRow.id)
        # Callers pass hex only, so the prefix holds no LIKE wildcard.
        rows = self._read(
            select(column).where(column.like(f"{prefix}%")).order_by(column).limit(limit)
        )
        return [str(found) for (found,) in rows]

    def get_case(self, case_id: str) -> Case | None:
        if case_id in self._known.cases:
            return self._known.cases[case_id]
        row = self._read(queries.CASE_BY_ID, {"case_id": case_id}).mappings().first()
        return self._case_of(row) if row else None

    def open_case_for(self, customer_id: str, topic: str) -> Case | None:
        known, case = self._known.open_case(customer_id, topic)
        if known:
            return case
        row = (
            self._read(queries.OPEN_CASE, {"customer_id": customer_id, "topic": topic})
            .mappings()
            .first()
        )
        case = self._case_of(row) if row else None
        self._known.open_cases[(customer_id, topic)] = case
        return case

    def last_resolved_case(self, customer_id: str, topic: str) -> Case | None:
        known, case = self._known.last_resolved(customer_id, topic)
        if known:
            return case
        row = (
            self._read(queries.LAST_RESOLVED_CASE, {"customer_id": customer_id, "topic": topic})
            .mappings()
            .first()
        )
        return self._case_of(row) if row else None

    def open_case_ids(self, customer_id: str) -> list[str]:
        rows = self._read(
            select(col(CaseRow.id))
            .where(
                col(CaseRow.customer_id) == customer_id,
                col(CaseRow.status).in_(queries.OPEN_STATUSES),
            )
            .order_by(col(CaseRow.opened_at))
        )
        return [r for (r,) in rows]

    def add_case(self, case: Case) -> None:
        self._new_cases[case.case_id] = case
        self._known.remember(case)

    def save_case(self, case: Case) -> None:
        """Written at flush, once per case; a stale copy of a case this transaction
        already changed is refused here, one changed by another transaction at flush."""
        case_id = case.case_id
        pending = self._new_cases.get(case_id)
        read_version = case.version
        if pending is None and case_id in self._changed_cases:
            read_version, pending = self._changed_cases[case_id]
        if pending is not None and pending is not case and pending.version != case.version:
            raise ConcurrentUpdate(f"case {case_id} changed concurrently")
        if case_id in self._new_cases:
            self._new_cases[case_id] = case
        else:
            self._changed_cases[case_id] = (read_version, case)
        case.version += 1
        self._known.remember(case)

    def queued_cases(self, limit: int, channel: Channel | None = None) -> list[Case]:
        query = select(CaseRow).where(col(CaseRow.status) == CaseStatus.QUEUED.value)
        if channel is not None:
            query = query.where(col(CaseRow.channel) == channel.value)
        rows = self._read(query.order_by(col(CaseRow.queue_rank)).limit(limit)).mappings()
        return [self._case_of(r) for r in rows]

    def cases_due_a_step(self, now: datetime, limit: int) -> list[Case]:
        rows = self._read(
            select(CaseRow)
            .where(
                col(CaseRow.status) == CaseStatus.QUEUED.value,
                col(CaseRow.next_step_at) <= now,
            )
            .order_by(col(CaseRow.next_step_at))
            .limit(limit)
        ).mappings()
        return [self._case_of(r) for r in rows]

    def lapsed_offers(self, now: datetime, limit: int) -> list[Case]:
        return self._due(CaseStatus.OFFERED, col(CaseRow.offer_expires_at), now, limit)

    def wrap_ups_over(self, now: datetime, limit: int) -> list[Case]:
        return self._due(CaseStatus.PENDING, col(CaseRow.slot_held_until), now, limit)

    def _due(self, status: CaseStatus, when: Any, now: datetime, limit: int) -> list[Case]:
        """Cases in `status` whose time `when` has come, the earliest first (an index
        on (status, when) serves each)."""
        rows = self._read(
            select(CaseRow)
            .where(col(CaseRow.status) == status.value, when <= now)
            .order_by(when)
            .limit(limit)
        ).mappings()
        return [self._case_of(r) for r in rows]

    def last_resolver(self, customer_id: str) -> str | None:
        known, agent_id = self._known.last_resolver(customer_id)
        if known:
            return agent_id
        found: str | None = self._read(
            select(col(CaseRow.owner_agent_id))
            .where(
                col(CaseRow.customer_id) == customer_id,
                col(CaseRow.status) == CaseStatus.RESOLVED.value,
            )
            .order_by(col(CaseRow.resolved_at).desc())
            .limit(1)
        ).scalar_one_or_none()
        return found

    def list_cases(
        self, owner_agent_id: str | None, status: CaseStatus | None, limit: int
    ) -> list[Case]:
        query = select(CaseRow)
        if owner_agent_id:
            query = query.where(col(CaseRow.owner_agent_id) == owner_agent_id)
        if status is not None:
            query = query.where(col(CaseRow.status) == status.value)
        rows = self._read(query.order_by(col(CaseRow.opened_at).desc()).limit(limit)).mappings()
        return [self._case_of(r) for r in rows]

    def add_handoff(
        self, case_id: str, from_agent: str, to_agent: str | None, reason: str, now: datetime
    ) -> None:
        self._run(
            insert(HandoffRow).values(
                case_id=case_id,
                from_agent_id=from_agent,
                to_agent_id=to_agent,
                reason=reason,
                at=now,
            )
        )

    def record_resolution(self, case: Case) -> None:
        self._run(
            insert(ResolutionRow).values(
                case_id=case.case_id,
                channel=case.first_channel.value,
                resolved_at=case.resolved_at,
                first_contact=case.first_contact_resolved,
                handoffs=case.handoff_count,
            )
        )

    def revoke_resolution(self, case_id: str) -> bool:
        latest = (
            select(func.max(col(ResolutionRow.id)))
            .where(col(ResolutionRow.case_id) == case_id)
            .scalar_subquery()
        )
        revoked = self._run(
            update(ResolutionRow)
            .where(
                col(ResolutionRow.id) == latest,
                col(ResolutionRow.first_contact),
                col(ResolutionRow.matured_at).is_(None),
            )
            .values(first_contact=False)
        )
        return bool(revoked.rowcount)

    def oldest_unmatured_resolution(self) -> datetime | None:
        oldest = self._run(
            select(func.min(col(ResolutionRow.resolved_at))).where(
                col(ResolutionRow.matured_at).is_(None)
            )
        ).scalar_one_or_none()
        return utc(oldest)

    def mature_resolutions(
        self, resolved_until: datetime, now: datetime, limit: int
    ) -> list[tuple[Channel, bool]]:
        unmatured = col(ResolutionRow.matured_at).is_(None)
        due = (
            select(col(ResolutionRow.id))
            .where(unmatured, col(ResolutionRow.resolved_at) <= resolved_until)
            .order_by(col(ResolutionRow.resolved_at))
            .limit(limit)
            # PostgreSQL: another process maturing at the same moment takes other rows
            # instead of waiting for these (SQLite has one writer at a time anyway).
            .with_for_update(skip_locked=True)
        )
        # `unmatured` again on the rows updated: a row another transaction matured
        # meanwhile is re-checked after its lock and left alone, so it counts once.
        rows = self._run(
            update(ResolutionRow)
            .where(col(ResolutionRow.id).in_(due.scalar_subquery()), unmatured)
            .values(matured_at=now)
            .returning(col(ResolutionRow.channel), col(ResolutionRow.first_contact))
        )
        return [(_CHANNELS[channel], bool(first)) for channel, first in rows]

    def resolution_report(
        self, since: datetime, until: datetime, channel: Channel | None
    ) -> ResolutionReport:
        handed_off = sql_case((col(ResolutionRow.handoffs) > 0, 1), else_=0)
        first = sql_case((col(ResolutionRow.first_contact), 1), else_=0)
        resolved_in = select(
            func.count(),
            func.coalesce(func.sum(first), 0),
            func.coalesce(func.sum(handed_off), 0),
            func.coalesce(func.sum(col(ResolutionRow.handoffs)), 0),
        ).where(col(ResolutionRow.resolved_at) >= since, col(ResolutionRow.resolved_at) < until)
        matured_in = select(func.count(), func.coalesce(func.sum(first), 0)).where(
            col(ResolutionRow.matured_at) >= since, col(ResolutionRow.matured_at) < until
        )
        if channel is not None:
            resolved_in = resolved_in.where(col(ResolutionRow.channel) == channel.value)
            matured_in = matured_in.where(col(ResolutionRow.channel) == channel.value)
        abandoned_in = select(func.count()).where(
            col(CaseRow.abandoned_at) >= since, col(CaseRow.abandoned_at) < until
        )
        if channel is not None:
            abandoned_in = abandoned_in.where(col(CaseRow.channel) == channel.value)
        resolved, first_contact, with_handoff, handoffs = self._read(resolved_in).one()
        matured, first_contact_matured = self._read(matured_in).one()
        abandoned = int(self._read(abandoned_in).scalar_one())
        return ResolutionReport(
            int(resolved),
            int(first_contact),
            int(with_handoff),
            int(handoffs),
            int(matured),
            int(first_contact_matured),
            csat_report(self._csat_groups(since, until, channel)),
            abandoned,
        )

    def _csat_groups(
        self, since: datetime, until: datetime, channel: Channel | None
    ) -> list[CsatGroup]:
        groups = []
        for at, sign in ((col(SurveyRow.counted_at), 1), (col(SurveyRow.replaced_at), -1)):
            labels = (
                col(SurveyRow.channel),
                col(SurveyRow.score),
                col(SurveyRow.handoffs),
                col(SurveyRow.first_contact),
            )
            query = select(*labels, func.count()).where(at >= since, at < until).group_by(*labels)
            if channel is not None:
                query = query.where(col(SurveyRow.channel) == channel.value)
            groups += [
                CsatGroup(_CHANNELS[ch], int(score), handoff_band(int(n)), bool(first), sign * k)
                for ch, score, n, first, k in self._read(query)
            ]
        return groups

    def current_survey(self, case_id: str) -> SurveyAnswer | None:
        row = self._read(
            select(SurveyRow).where(
                col(SurveyRow.case_id) == case_id, col(SurveyRow.replaced_at).is_(None)
            )
        ).first()
        if row is None:
            return None
        return SurveyAnswer(
            row.event_id,
            row.case_id,
            _CHANNELS[row.channel],
            row.score,
            row.handoffs,
            bool(row.first_contact),
            utc(row.answered_at) or EPOCH,
        )

    def record_survey(
        self, answer: SurveyAnswer, now: datetime, replaces: SurveyAnswer | None
    ) -> None:
        if replaces is not None:
            self._read(
                update(SurveyRow)
                .where(
                    col(SurveyRow.event_id) == replaces.event_id,
                    col(SurveyRow.replaced_at).is_(None),
                )
                .values(replaced_at=now)
            )
        self._pending_surveys.append(
            {
                "event_id": answer.event_id,
                "case_id": answer.case_id,
                "channel": answer.channel.value,
                "score": answer.score,
                "handoffs": answer.handoffs,
                "first_contact": answer.first_contact,
                "answered_at": answer.answered_at,
                "counted_at": now,
            }
        )

    def handoffs_of(self, case_id: str) -> list[tuple[str, str | None, str, datetime]]:
        rows = self._read(queries.HANDOFFS_OF, {"case_id": case_id})
        return [(f, t, r, utc(at) or EPOCH) for f, t, r, at in rows]

    # --- agents -----------------------------------------------------------------------
    def _agents(self, rows: Sequence[Any], slots_of: Any) -> list[Agent]:
        """Agents from their rows; `slots_of` selects the channel rows of the same agents
        (a join rather than a long IN list)."""
        if not rows:
            return []
        channels = _AgentChannels()
        for agent_id, channel, slots, used, cost, exclusive in self._read(slots_of):
            channels.add(agent_id, _CHANNELS[channel], slots, used, cost, exclusive)
        agents = []
        for r in rows:
            profile = self._profiles.profile(r.id, r.skills, r.authority, r.languages)
            agents.append(self._agent(r, profile, channels))
        return agents

    @staticmethod
    def _agent(r: Any, profile: Profile, channels: _AgentChannels) -> Agent:
        return Agent(
            agent_id=r.id,
            name=r.name,
            team=r.team,
            skills=profile.skills,
            authority=profile.authority,
            languages=profile.languages,
            capacity=channels.capacity.get(r.id, {}),
            load=channels.load.get(r.id, {}),
            presence=_PRESENCE[r.presence],
            last_assigned_at=utc(r.last_assigned_at),
            units=r.units,
            unit_costs=channels.costs.get(r.id, {}) if r.units else {},
            exclusive_channels=channels.exclusive.get(r.id, frozenset()),
        )

    def get_agent(self, agent_id: str) -> Agent | None:
        if self._available is not None and (known := self._available.get(agent_id)) is not None:
            # The transaction's snapshot; the reservation re-checks presence atomically.
            return known
        rows = self._read(queries.AGENT_COLUMNS.where(queries.agents.c.id == agent_id)).all()
        agents = self._agents(rows, queries.slots_of_agent(agent_id))
        if not agents:
            return None
        agent = agents[0]
        # On PostgreSQL the slots this transaction took and freed reach the rows only
        # at commit (_settle_slots); until then the agent read here carries them.
        for (holder, channel), delta in self._slot_deltas.items():
            if holder == agent_id and delta:
                agent.load[channel] = max(0, agent.load.get(channel, 0) + delta)
        return agent

    def list_agents(
        self,
        team: str | None = None,
        presence: Presence | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Agent]:
        query = queries.AGENT_COLUMNS.order_by(queries.agents.c.id)
        if team:
            query = query.where(queries.agents.c.team == team)
        if presence:
            query = query.where(queries.agents.c.presence == presence.value)
        if after is not None:
            query = query.where(queries.agents.c.id > after)
        if limit is not None:
            query = query.limit(limit)
        rows = self._read(query).all()
        return self._agents(rows, queries.slots_of_agents([r.id for r in rows]))

    def upsert_agent(self, agent: Agent) -> None:
        self.flush()  # the loads this transaction changed, before the snapshot goes
        self._available = None
        values = {
            "name": agent.name,
            "team": agent.team,
            "skills": dict(agent.skills),
            "authority": dict(agent.authority),
            "languages": sorted(agent.languages),
            "presence": agent.presence.value,
            "units": agent.units,
        }
        if (
            self._run(
                update(AgentRow).where(col(AgentRow.id) == agent.agent_id).values(**values)
            ).rowcount
            == 0
        ):
            self._run(insert(AgentRow).values(id=agent.agent_id, **values))
        existing = {
            c
            for (c,) in self._run(
                select(col(AgentChannelRow.channel)).where(
                    col(AgentChannelRow.agent_id) == agent.agent_id
                )
            )
        }
        for channel in Channel:
            terms = {
                "capacity": agent.capacity.get(channel, 0),
                "cost": agent.unit_costs.get(channel, 0),
                "exclusive": channel in agent.exclusive_channels,
            }
            if channel.value in existing:
                self._run(
                    update(AgentChannelRow)
                    .where(
                        col(AgentChannelRow.agent_id) == agent.agent_id,
                        col(AgentChannelRow.channel) == channel.value,
                    )
                    .values(**terms)
                )
            elif terms["capacity"] or terms["exclusive"]:
                self._run(
                    insert(AgentChannelRow).values(
                        agent_id=agent.agent_id, channel=channel.value, **terms
                    )
                )

    def set_presence(self, agent_id: str, presence: Presence) -> bool:
        self.flush()
        self._available = None
        result = self._run(
            update(AgentRow).where(col(AgentRow.id) == agent_id).values(presence=presence.value)
        )
        return bool(result.rowcount == 1)

    def available_agents(self, channel: Channel) -> Sequence[Agent]:
        return self._snapshot().candidates(channel)

    def _snapshot(self) -> RosterSnapshot:
        if self._available is None:
            rows = self._read(queries.AVAILABLE_AGENTS.order_by(queries.agents.c.id)).all()
            self._available = RosterSnapshot(self._agents(rows, queries.SLOTS_OF_AVAILABLE_AGENTS))
            # On PostgreSQL the slots this transaction took and freed reach the rows
            # only at commit (_settle_slots): a roster read before then adds them.
            for (agent_id, channel), delta in sorted(self._slot_deltas.items()):
                agent = self._available.get(agent_id)
                if agent is not None and delta:
                    load = max(0, agent.load.get(channel, 0) + delta)
                    self._available.set_load(agent_id, channel, load)
        return self._available

    def note_missed_offer(self, agent_id: str) -> int:
        self._run(
            update(AgentRow)
            .where(col(AgentRow.id) == agent_id)
            .values(missed_offers=col(AgentRow.missed_offers) + 1)
        )
        missed: int | None = self._run(
            select(col(AgentRow.missed_offers)).where(col(AgentRow.id) == agent_id)
        ).scalar_one_or_none()
        return missed or 0

    def reset_missed_offers(self, agent_id: str) -> None:
        self._run(
            update(AgentRow)
            .where(col(AgentRow.id) == agent_id, col(AgentRow.missed_offers) > 0)
            .values(missed_offers=0)
        )

    def reserve_capacity(self, agent_id: str, channel: Channel, now: datetime) -> bool:
        return self._reserve_in_snapshot(agent_id, channel, now)

    def _reserve_in_snapshot(self, agent_id: str, channel: Channel, now: datetime) -> bool:
        """A slot is taken in the available roster the transaction read, under the
        same rule as matching (available; slots, units, exclusive channels), and the
        row is written once with its guard. SQLite runs one writer at a time and this
        transaction holds the lock (BEGIN IMMEDIATE), so that roster is exact until it
        commits and the row is written at flush. On PostgreSQL other workers commit
        meanwhile: the change is applied at commit, under the agents' locks taken in
        agent order, where each contact taken is checked again (_settle_slots)."""
        snapshot = self._snapshot()
        agent = snapshot.get(agent_id)
        if agent is None or agent.presence is not Presence.AVAILABLE:
            return False
        if capacity_limit(agent, channel) is not None:  # slots, units, exclusive channels
            return False
        load = agent.load.get(channel, 0)
        self._note_slot(agent_id, channel, load, load + 1)
        self._pending_touches[agent_id] = now
        snapshot.touch(agent_id, now)
        return True

    def _note_slot(self, agent_id: str, channel: Channel, load: int, new_load: int) -> None:
        assert self._available is not None
        key = (agent_id, channel)
        if self._postgres:
            self._slot_deltas[key] = self._slot_deltas.get(key, 0) + (1 if new_load > load else -1)
        else:
            read = self._slot_changes[key][0] if key in self._slot_changes else load
            self._slot_changes[key] = (read, new_load)
        self._available.set_load(agent_id, channel, new_load)

    def release_capacity(self, agent_id: str, channel: Channel) -> None:
        self._pending_releases.add(agent_id)
        cached = self._available.get(agent_id) if self._available is not None else None
        if cached is not None:
            load = cached.load.get(channel, 0)
            self._note_slot(agent_id, channel, load, max(0, load - 1))
        elif self._postgres:  # an agent outside the available roster: freed at commit
            key = (agent_id, channel)
            self._slot_deltas[key] = self._slot_deltas.get(key, 0) - 1
        else:
            self._run(queries.RELEASE_SLOT, {"b_agent_id": agent_id, "b_channel": channel.value})

    def queue_stats(self, now: datetime) -> dict[str, QueueStat]:
        rows = self._read(
            select(col(CaseRow.rule), func.count(), func.min(col(CaseRow.queued_at)))
            .where(col(CaseRow.status) == CaseStatus.QUEUED.value)
            .group_by(col(CaseRow.rule))
        )
        return {
            rule: QueueStat(int(depth), max(0.0, (now - (utc(oldest) or now)).total_seconds()))
            for rule, depth, oldest in rows
        }

    def staffing(self) -> dict[Channel, ChannelStaffing]:
        rows = self._read(
            select(
                col(AgentChannelRow.channel),
                func.count(),
                func.sum(col(AgentChannelRow.load)),
                func.sum(col(AgentChannelRow.capacity)),
            )
            .join(AgentRow, col(AgentRow.id) == col(AgentChannelRow.agent_id))
            .where(
                col(AgentRow.presence) == Presence.AVAILABLE.value,
                col(AgentChannelRow.capacity) > 0,
            )
            .group_by(col(AgentChannelRow.channel))
        )
        return {
            Channel(channel): ChannelStaffing(int(count), int(load or 0), int(capacity or 0))
            for channel, count, load, capacity in rows
        }

    # --- idempotency --------------------------------------------------------------------
    def processed_among(self, event_ids: Iterable[str]) -> set[str]:
        ids = list(event_ids)
        if not ids:
            return set()
        rows = self._read(
            select(col(ProcessedEventRow.event_id)).where(col(ProcessedEventRow.event_id).in_(ids))
        )
        return {r for (r,) in rows}

    def mark_processed(self, event_id: str, now: datetime) -> None:
        self._pending_processed.append({"event_id": event_id, "processed_at": now})


class _AgentChannels:
    """The channel rows of some agents, by agent: slots, loads, costs, exclusivity."""

    def __init__(self) -> None:
        self.capacity: dict[str, dict[Channel, int]] = {}
        self.load: dict[str, dict[Channel, int]] = {}
        self.costs: dict[str, dict[Channel, int]] = {}
        self.exclusive: dict[str, frozenset[Channel]] = {}

    def add(
        self, agent_id: str, channel: Channel, slots: int, used: int, cost: int, exclusive: bool
    ) -> None:
        self.capacity.setdefault(agent_id, {})[channel] = slots
        self.load.setdefault(agent_id, {})[channel] = used
        if cost:
            self.costs.setdefault(agent_id, {})[channel] = cost
        if exclusive:
            self.exclusive[agent_id] = self.exclusive.get(agent_id, frozenset()) | {channel}


def _case_values(case: Case, aging_per_minute: float) -> dict[str, Any]:
    waiting = case.status is CaseStatus.QUEUED
    return {
        "id": case.case_id,
        "customer_id": case.customer_id,
        "topic": case.topic,
        "rule": case.rule,
        "status": case.status.value,
        "channel": case.channel.value,
        "first_channel": case.first_channel.value,
        "owner_agent_id": case.owner_agent_id,
        "priority": case.priority,
        "requirements": requirements_to_dict(case.requirements),
        "contact_count": case.contact_count,
        "handoff_count": case.handoff_count,
        "opened_at": case.opened_at,
        "queued_at": case.queued_at,
        "assigned_at": case.assigned_at,
        "resolved_at": case.resolved_at,
        "resolution_code": case.resolution_code,
        "first_contact_resolved": case.first_contact_resolved,
        "csat": case.csat,
        "last_decision": explanation_to_dict(case.last_decision) if case.last_decision else None,
        "plan": plan_to_dict(case.plan),
        "step": case.step,
        "queue_rank": case.queue_rank(aging_per_minute) if waiting else None,
        "next_step_at": case.next_step_at if waiting else None,
        "offer_expires_at": case.offer_expires_at,
        "declined_by": list(case.declined_by),
        "live_contacts": [
            [contact_id, channel.value] for contact_id, channel in case.live_contacts
        ],
        "slot_held_until": case.slot_held_until,
        "abandoned_at": case.abandoned_at,
    }
