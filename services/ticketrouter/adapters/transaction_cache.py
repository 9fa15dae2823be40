"""What one transaction already knows, so that a batch of events about the same
customers reads each identity and case once (an identity map, as an ORM session
keeps). Every write of the transaction goes through the repository, which keeps
this cache in step; it dies with the transaction."""

from __future__ import annotations

from ticketrouter.domain.cases import Case
from ticketrouter.domain.identity import Identity

CaseKey = tuple[str, str]  # (customer_id, topic)


class TransactionCache:
    def __init__(self) -> None:
        self.owners: dict[Identity, str | None] = {}  # None: known not to exist
        self.cases: dict[str, Case] = {}  # by id: one instance per case
        self.open_cases: dict[CaseKey, Case | None] = {}
        self.fully_loaded: set[str] = set()  # customers whose open cases are all known

    def open_case(self, customer_id: str, topic: str) -> tuple[bool, Case | None]:
        """(known, case): known is False when the database must be asked."""
        key = (customer_id, topic)
        if key in self.open_cases:
            return True, self.open_cases[key]
        return customer_id in self.fully_loaded, None

    def remember(self, case: Case) -> Case:
        """Keep one instance per case; returns the instance to use."""
        known = self.cases.get(case.case_id)
        if known is not None and known.version >= case.version:
            return known
        self.cases[case.case_id] = case
        key = (case.customer_id, case.topic)
        current = self.open_cases.get(key)
        if case.is_open and (current is None or current.case_id == case.case_id):
            self.open_cases[key] = case
        elif not case.is_open and current is not None and current.case_id == case.case_id:
            # Resolved: after a merge another open case may share the topic; ask again.
            self.forget_customer(case.customer_id)
        return case

    def forget_customer(self, customer_id: str) -> None:
        self.fully_loaded.discard(customer_id)
        for key in [k for k in self.open_cases if k[0] == customer_id]:
            del self.open_cases[key]

    def merged(self, survivor_id: str, merged_id: str) -> None:
        for identity, owner in self.owners.items():
            if owner == merged_id:
                self.owners[identity] = survivor_id
        for case in self.cases.values():
            if case.customer_id == merged_id:
                case.customer_id = survivor_id  # the row moved; the instance follows
        self.forget_customer(merged_id)
        self.forget_customer(survivor_id)
