"""Recognise the one customer behind the identities an event carries, and let an
operator correct the identity graph by hand, with an audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from ticketrouter.domain.commands import LinkIdentity, MergeCustomers, UnlinkIdentity
from ticketrouter.domain.customers import Customer
from ticketrouter.domain.errors import ConflictingState, InvalidField, NotFound
from ticketrouter.domain.events import CustomersMerged, IdentityConflictReported
from ticketrouter.domain.identity import Identity
from ticketrouter.domain.merging import (
    ROUTER,
    ConflictReason,
    IdentityConflict,
    IdentityPolicy,
    Merge,
    plan_resolution,
)
from ticketrouter.domain.timeline import EntryKind, TimelineEntry
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.settings import RoutingSettings


def resolve_customer(
    uow: UnitOfWork,
    identities: Sequence[Identity],
    now: datetime,
    policy: IdentityPolicy,
    event_id: str = "",
    display_name: str = "",
    language: str = "",
) -> tuple[str, bool]:
    """Return the customer owning these identities (and whether they are new),
    creating, linking, merging, or reporting a conflict, as the policy says."""
    repo = uow.repo
    owners = repo.owners_of(identities)
    plan = plan_resolution(
        identities,
        owners,
        policy,
        lambda ids: repo.strong_identities_of(ids, policy.one_per_customer),
    )
    created = plan.customer_id is None
    customer_id = plan.customer_id or uuid.uuid4().hex
    if created:
        repo.add_customer(Customer(customer_id, display_name, language=language), now)
    for merged in plan.merge:
        _merge(uow, Merge(customer_id, merged, now, event_id))
    for identity in plan.link:
        repo.link_identity(identity, customer_id, now)
    if plan.conflict is not None:
        _report_conflict(uow, event_id, customer_id, plan.conflict, identities, now)
    return customer_id, created


def _merge(uow: UnitOfWork, merge: Merge) -> None:
    uow.repo.merge_customers(merge)
    by = f" by {merge.actor}" if merge.actor else ""
    source = f" (event {merge.event_id})" if merge.event_id else ""
    uow.repo.record(
        TimelineEntry(
            merge.survivor_id,
            merge.at,
            EntryKind.MERGED,
            detail=f"customer {merge.merged_id} merged in{by}{source}: {merge.reason}",
        )
    )
    uow.emit(CustomersMerged(manual=merge.actor != ROUTER))


def _report_conflict(
    uow: UnitOfWork,
    event_id: str,
    chosen: str,
    involved: tuple[str, ...],
    identities: Sequence[Identity],
    now: datetime,
) -> None:
    reason = ConflictReason.STRONG_IDENTIFIERS
    customers = tuple(dict.fromkeys((*involved, chosen)))
    uow.repo.record_conflict(IdentityConflict(event_id, customers, tuple(identities), reason, now))
    shown = ", ".join(str(i) for i in identities)
    for customer_id in customers:
        uow.repo.record(
            TimelineEntry(
                customer_id,
                now,
                EntryKind.CONFLICT,
                detail=f"not merged ({reason}): event {event_id} carried {shown}"[:500],
            )
        )
    uow.emit(IdentityConflictReported(reason))


# --- manual corrections ------------------------------------------------------------


def link_identity(
    cmd: LinkIdentity, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Customer:
    customer = _live_customer(uow, cmd.customer_id)
    owner = uow.repo.owners_of([cmd.identity]).get(cmd.identity)
    if owner == customer.customer_id:
        return customer  # already linked: linking is idempotent
    if owner is not None:
        raise ConflictingState(
            f"{cmd.identity} belongs to customer {owner}: unlink it there first, "
            "or merge the two customers"
        )
    strong = settings.identities.one_per_customer
    if cmd.identity.kind in strong:
        held = uow.repo.strong_identities_of([customer.customer_id], strong)
        other = [i for i in held.get(customer.customer_id, ()) if i.kind == cmd.identity.kind]
        if other:
            raise ConflictingState(
                f"customer {customer.customer_id} already has {other[0]}; "
                f"a customer holds one {cmd.identity.kind} identifier"
            )
    uow.repo.link_identity(cmd.identity, customer.customer_id, now)
    _audit(uow, customer.customer_id, EntryKind.LINKED, now, cmd.actor, cmd.reason, cmd.identity)
    return _live_customer(uow, customer.customer_id)


def unlink_identity(
    cmd: UnlinkIdentity, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Customer:
    customer = _live_customer(uow, cmd.customer_id)
    if not uow.repo.unlink_identity(cmd.identity, customer.customer_id):
        raise NotFound("identity", f"{cmd.identity} of customer {customer.customer_id}")
    _audit(uow, customer.customer_id, EntryKind.UNLINKED, now, cmd.actor, cmd.reason, cmd.identity)
    return _live_customer(uow, customer.customer_id)


def merge_customers(
    cmd: MergeCustomers, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Customer:
    """An operator's merge: the survivor is theirs to choose, and it overrides the
    strong-identifier guard (they looked). Merging twice changes nothing."""
    if cmd.surviving_customer_id == cmd.merged_customer_id:
        raise InvalidField("merged_customer_id", "must differ from surviving_customer_id")
    merged = uow.repo.get_customer(cmd.merged_customer_id)
    if merged is None:
        raise NotFound("customer", cmd.merged_customer_id)
    if merged.merged_into == cmd.surviving_customer_id:
        return _live_customer(uow, cmd.surviving_customer_id)
    if merged.merged_into is not None:
        raise ConflictingState(
            f"customer {merged.customer_id} was already merged into {merged.merged_into}"
        )
    survivor = _live_customer(uow, cmd.surviving_customer_id)
    reason = cmd.reason or "merged by hand"
    _merge(uow, Merge(survivor.customer_id, merged.customer_id, now, "", cmd.actor, reason))
    return _live_customer(uow, survivor.customer_id)


def _live_customer(uow: UnitOfWork, customer_id: str) -> Customer:
    customer = uow.repo.get_customer(customer_id)
    if customer is None:
        raise NotFound("customer", customer_id)
    if customer.merged_into is not None:
        raise ConflictingState(
            f"customer {customer_id} was merged into {customer.merged_into}; use that id"
        )
    return customer


def _audit(
    uow: UnitOfWork,
    customer_id: str,
    kind: EntryKind,
    now: datetime,
    actor: str,
    reason: str,
    identity: Identity,
) -> None:
    why = f": {reason}" if reason else ""
    uow.repo.record(
        TimelineEntry(customer_id, now, kind, detail=f"{identity} {kind} by {actor}{why}")
    )
