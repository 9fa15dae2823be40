"""Recognise the one customer behind the identities an event carries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from ticketrouter.domain.customers import Customer
from ticketrouter.domain.identity import Identity
from ticketrouter.domain.timeline import EntryKind, TimelineEntry
from ticketrouter.service_layer.ports import Repository


def resolve_customer(
    repo: Repository,
    identities: Sequence[Identity],
    now: datetime,
    display_name: str = "",
    language: str = "",
) -> tuple[str, bool]:
    """Return the customer owning these identities (and whether they are new),
    creating, linking or merging as needed.

    Identities seen together on one event belong to one person, so owners that
    differ are merged; the survivor is the smallest id, which makes the final
    state independent of the order in which events arrive.
    """
    owners = repo.owners_of(identities)
    customer_ids = sorted(set(owners.values()))
    created = not customer_ids
    if created:
        customer_id = uuid.uuid4().hex
        repo.add_customer(Customer(customer_id, display_name, language=language), now)
    else:
        customer_id = customer_ids[0]
        for merged in customer_ids[1:]:
            repo.merge_customers(customer_id, merged, now)
            repo.record(
                TimelineEntry(
                    customer_id,
                    now,
                    EntryKind.MERGED,
                    detail=f"customer {merged} merged in: same person",
                )
            )
    for identity in identities:
        if identity not in owners:
            repo.link_identity(identity, customer_id, now)
    return customer_id, created
