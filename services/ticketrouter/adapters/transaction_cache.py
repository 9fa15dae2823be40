"""What one transaction already knows, so that a batch of events about the same
customers reads each identity and case once (an identity map, as an ORM session
keeps). Every write of the transaction goes through the repository, which keeps
this cache in step; it dies with the transaction."""

from __future__ import annotations

from ticketrouter.domain.cases import Case, CaseStatus
from ticketrouter.domain.identity import Identity

CaseKey = tuple[str, str]  # (customer_id, topic)


class TransactionCache:
    def __init__(self) -> None:
        self.owners: dict[Identity, str | None] = {}  # None: known not to exist
        self.cases: dict[str, Case] = {}  # by id: one instance per case
        self.open_cases: dict[CaseKey, Case | None] = {}
        self.fully_loaded: set[str] = set()  # customers whose open cases are all known
        # Customers whose latest resolved case per topic is known (absent: none), so
        # the relationship and reopen lookups of a batch ask the database nothing.
        self.resolved_known: set[str] = set()
        self.resolved: dict[str, dict[str, Case]] = {}  # customer -> topic -> case
        # Every identity a customer holds, written or not, for the strong-identifier
        # check of resolution; absent: not read yet.
        self.identities: dict[str, set[Identity]] = {}

    def open_case(self, customer_id: str, topic: str) -> tuple[bool, Case | None]:
        """(known, case): known is False when the database must be asked."""
        key = (customer_id, topic)
        if key in self.open_cases:
            return True, self.open_cases[key]
        return customer_id in self.fully_loaded, None

    def last_resolved(self, customer_id: str, topic: str) -> tuple[bool, Case | None]:
        """(known, case) for the latest resolved case on the topic."""
        if customer_id not in self.resolved_known:
            return False, None
        case = self.resolved.get(customer_id, {}).get(topic)
        if case is not None and case.status is not CaseStatus.RESOLVED:
            return False, None  # reopened in place, not yet saved
        return True, case

    def last_resolver(self, customer_id: str) -> tuple[bool, str | None]:
        """(known, agent) who resolved the customer's latest resolved case."""
        if customer_id not in self.resolved_known:
            return False, None
        latest = max(
            self.resolved.get(customer_id, {}).values(),
            key=lambda c: c.resolved_at or c.opened_at,
            default=None,
        )
        return True, latest.owner_agent_id if latest else None

    def new_customer(self, customer_id: str) -> None:
        """A customer created by this transaction has no cases anywhere yet."""
        self.fully_loaded.add(customer_id)
        self.resolved_known.add(customer_id)
        self.identities[customer_id] = set()

    def linked(self, identity: Identity, customer_id: str) -> None:
        self.owners[identity] = customer_id
        held = self.identities.get(customer_id)
        if held is not None:
            held.add(identity)

    def unlinked(self, identity: Identity, customer_id: str) -> None:
        self.owners[identity] = None
        self.identities.get(customer_id, set()).discard(identity)

    def loaded_resolved(self, customer_ids: list[str], latest: list[Case]) -> None:
        """The latest resolved case per topic of these customers, as read."""
        for case in latest:
            self.resolved.setdefault(case.customer_id, {})[case.topic] = case
        self.resolved_known.update(customer_ids)

    def remember(self, case: Case) -> Case:
        """Keep one instance per case; returns the instance to use."""
        known = self.cases.get(case.case_id)
        if known is not None and known is not case and known.version >= case.version:
            return known
        self.cases[case.case_id] = case
        key = (case.customer_id, case.topic)
        current = self.open_cases.get(key)
        if case.is_open and (current is None or current.case_id == case.case_id):
            self.open_cases[key] = case
        elif not case.is_open and current is not None and current.case_id == case.case_id:
            # Resolved: after a merge another open case may share the topic; ask again.
            self.forget_customer(case.customer_id)
        self._track_resolution(case)
        return case

    def _track_resolution(self, case: Case) -> None:
        if case.customer_id not in self.resolved_known:
            return
        topics = self.resolved.setdefault(case.customer_id, {})
        latest = topics.get(case.topic)
        if case.status is CaseStatus.RESOLVED:
            if (
                latest is None
                or latest.case_id == case.case_id
                or (case.resolved_at or case.opened_at) >= (latest.resolved_at or latest.opened_at)
            ):
                topics[case.topic] = case
        elif latest is not None and latest.case_id == case.case_id:
            # Reopened: the one resolved before it is not known here; ask again.
            self.resolved_known.discard(case.customer_id)
            self.resolved.pop(case.customer_id, None)

    def forget_customer(self, customer_id: str) -> None:
        self.fully_loaded.discard(customer_id)
        self.resolved_known.discard(customer_id)
        self.resolved.pop(customer_id, None)
        for key in [k for k in self.open_cases if k[0] == customer_id]:
            del self.open_cases[key]

    def merged(self, survivor_id: str, merged_id: str) -> None:
        for identity, owner in self.owners.items():
            if owner == merged_id:
                self.owners[identity] = survivor_id
        for case in self.cases.values():
            if case.customer_id == merged_id:
                case.customer_id = survivor_id  # the row moved; the instance follows
        self.identities.pop(merged_id, None)
        self.identities.pop(survivor_id, None)  # read again, with what moved
        self.forget_customer(merged_id)
        self.forget_customer(survivor_id)
