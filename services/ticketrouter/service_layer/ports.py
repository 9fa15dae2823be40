"""The ports the handlers depend on; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from ticketrouter.domain.agents import Agent
from ticketrouter.domain.cases import Case, CaseStatus
from ticketrouter.domain.channels import Channel, Presence
from ticketrouter.domain.context import ContextLimits, ContextPacket
from ticketrouter.domain.customers import Contact, Customer, Offer
from ticketrouter.domain.decisions import Decision
from ticketrouter.domain.events import CaseRouted, Event
from ticketrouter.domain.identity import Identity, IdentityKind
from ticketrouter.domain.merging import IdentityConflict, Merge
from ticketrouter.domain.reports import ChannelStaffing, QueueStat, ResolutionReport
from ticketrouter.domain.surveys import SurveyAnswer
from ticketrouter.domain.timeline import EntryKind, TimelineEntry, TimelinePage


class Clock(Protocol):
    def now(self) -> datetime: ...


class Repository(abc.ABC):
    """Everything the handlers read and write, in one transaction."""

    # --- customers and identities
    @abc.abstractmethod
    def owners_of(self, identities: Iterable[Identity]) -> dict[Identity, str]:
        """Map each known identity to the customer that owns it."""

    def prefetch(self, identities: Iterable[Identity]) -> None:  # noqa: B027
        """A hint: these identities (and their customers' open cases) are about to be
        looked up in this transaction, so an adapter may load them in one go."""

    @abc.abstractmethod
    def add_customer(self, customer: Customer, now: datetime) -> None: ...

    @abc.abstractmethod
    def link_identity(self, identity: Identity, customer_id: str, now: datetime) -> None: ...

    @abc.abstractmethod
    def unlink_identity(self, identity: Identity, customer_id: str) -> bool:
        """False when the customer does not own the identity."""

    @abc.abstractmethod
    def strong_identities_of(
        self, customer_ids: Sequence[str], kinds: frozenset[IdentityKind]
    ) -> dict[str, frozenset[Identity]]:
        """The identities of these kinds each customer holds."""

    @abc.abstractmethod
    def merge_customers(self, merge: Merge) -> None:
        """Move every identity, case, contact, timeline entry and offer of the merged
        customer to the survivor, keep the merged id as an alias, record the merge.
        Raises ConcurrentUpdate if either was merged by a concurrent transaction."""

    @abc.abstractmethod
    def merges_into(self, customer_id: str) -> list[Merge]: ...

    @abc.abstractmethod
    def record_conflict(self, conflict: IdentityConflict) -> None: ...

    @abc.abstractmethod
    def conflicts_of(self, customer_id: str, limit: int) -> list[IdentityConflict]:
        """Most recent first."""

    @abc.abstractmethod
    def save_offers(self, customer_id: str, offers: Sequence[Offer], now: datetime) -> None:
        """Add offers; one with the code of an existing offer replaces it."""

    @abc.abstractmethod
    def context_packets(
        self, customer_ids: Iterable[str], limits: ContextLimits, now: datetime
    ) -> dict[str, ContextPacket]:
        """One bounded packet per customer, in a few queries for the whole set; an id
        merged away gets its survivor's packet."""

    @abc.abstractmethod
    def update_customer(
        self, customer_id: str, display_name: str, tier: str, language: str
    ) -> None:
        """Change the non-empty fields."""

    @abc.abstractmethod
    def get_customer(self, customer_id: str) -> Customer | None: ...

    @abc.abstractmethod
    def recent_contacts(self, customer_id: str, limit: int) -> list[Contact]: ...

    @abc.abstractmethod
    def add_contact(self, contact: Contact) -> None: ...

    @abc.abstractmethod
    def case_of_contact(self, event_id: str) -> str | None: ...

    @abc.abstractmethod
    def record(self, entry: TimelineEntry) -> None:
        """Add to the customer's timeline (may be buffered until commit)."""

    @abc.abstractmethod
    def timeline(
        self,
        customer_id: str,
        limit: int,
        after: tuple[datetime, int] | None = None,
        channel: str | None = None,
        kinds: frozenset[EntryKind] = frozenset(),
        case_id: str | None = None,
    ) -> TimelinePage:
        """Entries in (time, insertion) order, after the cursor of a previous page;
        optionally only those of one channel, of some kinds, or about one case."""

    # --- cases
    @abc.abstractmethod
    def get_case(self, case_id: str) -> Case | None: ...

    @abc.abstractmethod
    def ids_starting_with(self, kind: str, prefix: str, limit: int) -> list[str]:
        """Up to `limit` ids of `kind` ("case" or "customer") that begin with `prefix`:
        what a person pasted from a screen that shows short ids."""

    @abc.abstractmethod
    def open_case_for(self, customer_id: str, topic: str) -> Case | None: ...

    @abc.abstractmethod
    def last_resolved_case(self, customer_id: str, topic: str) -> Case | None: ...

    @abc.abstractmethod
    def open_case_ids(self, customer_id: str) -> list[str]: ...

    @abc.abstractmethod
    def add_case(self, case: Case) -> None: ...

    @abc.abstractmethod
    def save_case(self, case: Case) -> None:
        """Persist changes; raises ConcurrentUpdate if someone else changed it meanwhile
        (here, or when the unit of work commits: adapters may write a batch's cases
        together)."""

    @abc.abstractmethod
    def queued_cases(self, limit: int, channel: Channel | None = None) -> list[Case]:
        """Waiting cases in queue order (priority, then waiting time)."""

    @abc.abstractmethod
    def cases_due_a_step(self, now: datetime, limit: int) -> list[Case]:
        """Waiting cases whose next routing step is due, the most overdue first."""

    @abc.abstractmethod
    def lapsed_offers(self, now: datetime, limit: int) -> list[Case]:
        """Offered cases whose offer expired unanswered, the oldest first."""

    @abc.abstractmethod
    def wrap_ups_over(self, now: datetime, limit: int) -> list[Case]:
        """Pending cases whose owner's slot is held for a wrap-up that ended at or
        before `now`, the longest over first."""

    @abc.abstractmethod
    def last_resolver(self, customer_id: str) -> str | None:
        """The agent who resolved this customer's latest resolved case."""

    @abc.abstractmethod
    def list_cases(
        self, owner_agent_id: str | None, status: CaseStatus | None, limit: int
    ) -> list[Case]:
        """Most recently opened first."""

    @abc.abstractmethod
    def add_handoff(
        self, case_id: str, from_agent: str, to_agent: str | None, reason: str, now: datetime
    ) -> None: ...

    @abc.abstractmethod
    def record_resolution(self, case: Case) -> None:
        """Keep the resolution (first channel, FCR, handoffs) for exact reporting."""

    @abc.abstractmethod
    def revoke_resolution(self, case_id: str) -> bool:
        """A repeat contact takes back the first-contact credit of the latest resolution;
        returns whether it did. A matured resolution keeps its credit: its outcome was
        counted as final (only an event that arrives late can meet one)."""

    @abc.abstractmethod
    def oldest_unmatured_resolution(self) -> datetime | None:
        """When the oldest resolution not yet matured was resolved (None: there is none)."""

    @abc.abstractmethod
    def mature_resolutions(
        self, resolved_until: datetime, now: datetime, limit: int
    ) -> list[tuple[Channel, bool]]:
        """Mark up to `limit` unmatured resolutions resolved at or before `resolved_until`
        (oldest first) matured at `now`; returns each one's (first channel, first-contact
        resolved). A resolution is returned by exactly one call, however many processes
        make them at once."""

    @abc.abstractmethod
    def resolution_report(
        self, since: datetime, until: datetime, channel: Channel | None
    ) -> ResolutionReport:
        """Resolutions with resolved_at in [since, until), those that matured in it, and
        the CSAT answers counted in it less those replaced in it."""

    @abc.abstractmethod
    def current_survey(self, case_id: str) -> SurveyAnswer | None:
        """The case's answer in force (counted and not replaced), if any."""

    @abc.abstractmethod
    def record_survey(
        self, answer: SurveyAnswer, now: datetime, replaces: SurveyAnswer | None
    ) -> None:
        """Count `answer` at `now`; `replaces`, the answer in force, is marked replaced."""

    @abc.abstractmethod
    def handoffs_of(self, case_id: str) -> list[tuple[str, str | None, str, datetime]]: ...

    # --- agents
    @abc.abstractmethod
    def get_agent(self, agent_id: str) -> Agent | None: ...

    @abc.abstractmethod
    def list_agents(
        self,
        team: str | None = None,
        presence: Presence | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Agent]:
        """Ordered by agent id; `after` and `limit` page through them."""
        ...

    @abc.abstractmethod
    def upsert_agent(self, agent: Agent) -> None:
        """Create or update profile and capacity; never touches the current load."""

    @abc.abstractmethod
    def set_presence(self, agent_id: str, presence: Presence) -> bool: ...

    @abc.abstractmethod
    def available_agents(self, channel: Channel) -> Sequence[Agent]:
        """Candidates for `channel`: at least every available agent with free capacity
        there (may be a snapshot for the transaction; matching re-checks capacity)."""

    @abc.abstractmethod
    def note_missed_offer(self, agent_id: str) -> int:
        """Count an offer the agent let lapse; returns how many in a row."""

    @abc.abstractmethod
    def reset_missed_offers(self, agent_id: str) -> None: ...

    @abc.abstractmethod
    def reserve_capacity(self, agent_id: str, channel: Channel, now: datetime) -> bool:
        """Atomically take one slot; False if the agent is not available or full."""

    @abc.abstractmethod
    def release_capacity(self, agent_id: str, channel: Channel) -> None: ...

    @abc.abstractmethod
    def queue_stats(self, now: datetime) -> dict[str, QueueStat]:
        """Waiting cases by rule."""

    @abc.abstractmethod
    def staffing(self) -> dict[Channel, ChannelStaffing]:
        """Available agents by channel they work, with their load and capacity there."""

    # --- idempotency
    @abc.abstractmethod
    def processed_among(self, event_ids: Iterable[str]) -> set[str]: ...

    @abc.abstractmethod
    def mark_processed(self, event_id: str, now: datetime) -> None: ...


class ConcurrentUpdate(Exception):
    """Another transaction changed the same row: transient, retry the whole unit."""


class SlotTaken(ConcurrentUpdate):
    """At commit, a slot the transaction took no longer fits: other workers filled the
    agent since the transaction read its roster. Names the (agent, channel) slots."""

    def __init__(self, slots: Sequence[tuple[str, Channel]]) -> None:
        super().__init__("slots taken meanwhile: " + ", ".join(f"{a}/{c}" for a, c in slots))
        self.slots = list(slots)


class UnitOfWork(abc.ABC):
    """One transaction. Events collected during it are released only after commit."""

    repo: Repository

    def __init__(self, context_limits: ContextLimits | None = None) -> None:
        """`context_limits`: attach a context packet of this size to every decision."""
        self._events: list[Event] = []
        self._context_limits = context_limits

    def __enter__(self) -> Self:
        self._events = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def emit(self, event: Event) -> None:
        self._events.append(event)

    def commit(self) -> list[Event]:
        """Commit and hand back what happened, for the caller to publish."""
        self._attach_context()
        self._commit()
        events, self._events = self._events, []
        return events

    def _attach_context(self) -> None:
        """Read the context of every routed customer at once, as the transaction leaves
        it (so a later event of the batch is reflected), and attach it."""
        routed = [e.decision for e in self._events if isinstance(e, CaseRouted)]
        if self._context_limits is None or not routed:
            return
        now = max(d.decided_at for d in routed)
        packets = self.repo.context_packets(
            {d.customer_id for d in routed}, self._context_limits, now
        )
        self._events = [
            CaseRouted(_with_context(e.decision, packets)) if isinstance(e, CaseRouted) else e
            for e in self._events
        ]

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


def _with_context(decision: Decision, packets: Mapping[str, ContextPacket]) -> Decision:
    packet = packets.get(decision.customer_id)
    if packet is None:
        return decision
    # After a merge later in the batch, the survivor is the customer to show.
    return replace(
        decision, customer_id=packet.customer_id, context=packet.for_case(decision.case_id)
    )


class MetricsPort(abc.ABC):
    """What the service reports; labels only from closed sets."""

    @abc.abstractmethod
    def record(self, event: Event, now: datetime) -> None: ...

    @abc.abstractmethod
    def dead_lettered(self, reason: str) -> None: ...

    @abc.abstractmethod
    def unknown_fields_ignored(self, event_type: str) -> None:
        """An accepted event carried fields the contract does not know."""

    @abc.abstractmethod
    def set_gauges(
        self, queue: Mapping[str, QueueStat], staffing: Mapping[Channel, ChannelStaffing]
    ) -> None:
        """Queue by rule and staffing by channel, as recomputed from the database."""

    @abc.abstractmethod
    def set_consumer_lag(self, lag_by_partition: Mapping[int, int]) -> None: ...
