"""Which customer an event's identities belong to, and when two customers are one.

Identities seen together on one event belong to one person, so their owners are
merged, with two guards that stop the classic wrong auto-merge:

- identifiers that several people share (a family phone, a shop's email) can be
  configured never to merge: they still find their customer, but never pull two
  customers together;
- a customer holds at most one *strong* identifier of a kind (an account id): an
  event that would give someone two is reported as a conflict, not merged.

The survivor of a merge is the smallest customer id, so the final state does not
depend on the order in which events arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ticketrouter.domain.identity import Identity, IdentityKind

ROUTER = "router"  # the actor of automatic merges


@dataclass(frozen=True, slots=True)
class IdentityPolicy:
    never_merge: frozenset[IdentityKind] = frozenset()
    one_per_customer: frozenset[IdentityKind] = frozenset({IdentityKind.ACCOUNT})


class ConflictReason(StrEnum):
    """Why identities were not merged (closed set: it labels a metric)."""

    STRONG_IDENTIFIERS = "conflicting_strong_identifiers"


@dataclass(frozen=True, slots=True)
class Merge:
    survivor_id: str
    merged_id: str
    at: datetime
    event_id: str = ""
    actor: str = ROUTER
    reason: str = "same person"


@dataclass(frozen=True, slots=True)
class IdentityConflict:
    event_id: str
    customer_ids: tuple[str, ...]
    identities: tuple[Identity, ...]
    reason: ConflictReason
    at: datetime


@dataclass(frozen=True, slots=True)
class Resolution:
    """What to do with an event's identities. `customer_id` None: a new customer."""

    customer_id: str | None
    merge: tuple[str, ...] = ()
    link: tuple[Identity, ...] = ()
    conflict: tuple[str, ...] | None = None  # the customers involved, when not merged


StrongIdentities = Callable[[Sequence[str]], Mapping[str, frozenset[Identity]]]


def plan_resolution(
    identities: Sequence[Identity],
    owners: Mapping[Identity, str],
    policy: IdentityPolicy,
    strong_identities_of: StrongIdentities,
) -> Resolution:
    """Decide merges and links; `strong_identities_of` is asked only when a merge or a
    new strong identifier could give a customer two of a kind."""
    unowned = tuple(dict.fromkeys(i for i in identities if i not in owners))
    merging = sorted(
        {owners[i] for i in identities if i in owners and i.kind not in policy.never_merge}
    )
    shared = sorted({owners[i] for i in identities if i in owners and i.kind in policy.never_merge})
    group = merging or shared[:1]
    new_strong = [i for i in unowned if i.kind in policy.one_per_customer]
    if len(group) > 1 or (new_strong and group) or len(new_strong) > 1:
        held = strong_identities_of(group) if group else {}
        strong = {i for i in identities if i.kind in policy.one_per_customer}
        for customer_id in group:
            strong.update(held.get(customer_id, frozenset()))
        if _two_of_a_kind(strong):
            return _conflict(identities, owners, policy, group, unowned)
    if not group:
        return Resolution(None, link=unowned)
    return Resolution(group[0], merge=tuple(group[1:]), link=unowned)


def _two_of_a_kind(identities: set[Identity]) -> bool:
    kinds = [i.kind for i in identities]
    return len(kinds) != len(set(kinds))


def _conflict(
    identities: Sequence[Identity],
    owners: Mapping[Identity, str],
    policy: IdentityPolicy,
    group: list[str],
    unowned: tuple[Identity, ...],
) -> Resolution:
    """No merge and no guessing: the contact goes to the owner of its strong identifier
    (the most specific evidence), else to the first candidate; nothing is linked to an
    existing customer. A new customer gets only the identifiers that cannot conflict."""
    strong_owner = next(
        (owners[i] for i in identities if i.kind in policy.one_per_customer and i in owners),
        None,
    )
    involved = tuple(group)
    if strong_owner is not None or group:
        return Resolution(strong_owner or group[0], conflict=involved)
    weak = tuple(i for i in unowned if i.kind not in policy.one_per_customer)
    return Resolution(None, link=weak, conflict=involved)
