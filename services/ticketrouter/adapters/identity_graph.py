"""SQL for the identity graph: merges (with their audit), strong identifiers,
unlinking, conflicts and offers. `run` executes on the repository's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlmodel import col

from ticketrouter.adapters.orm import (
    CaseRow,
    ConflictRow,
    ContactRow,
    CustomerRow,
    IdentityRow,
    MergeRow,
    OfferRow,
    TimelineRow,
)
from ticketrouter.adapters.records import EPOCH, utc
from ticketrouter.domain.customers import Offer
from ticketrouter.domain.identity import Identity, IdentityKind
from ticketrouter.domain.merging import ConflictReason, IdentityConflict, Merge
from ticketrouter.service_layer.ports import ConcurrentUpdate

Run = Callable[..., Any]
# Everything that belongs to a customer and moves with them in a merge.
_OWNED = (IdentityRow, CaseRow, ContactRow, TimelineRow, ConflictRow)


def merge(run: Run, merge: Merge) -> None:
    # Lock both customers (in id order: two merges never deadlock on each other), so a
    # concurrent transaction that uses either one waits and then sees the merge.
    rows = run(
        select(col(CustomerRow.id), col(CustomerRow.merged_into))
        .where(col(CustomerRow.id).in_([merge.survivor_id, merge.merged_id]))
        .order_by(col(CustomerRow.id))
        .with_for_update()
    ).all()
    found = dict(rows)
    if len(found) != 2 or any(found.values()):
        raise ConcurrentUpdate(
            f"customers {merge.survivor_id} and {merge.merged_id} changed concurrently"
        )
    for table in _OWNED:
        run(
            update(table)
            .where(col(table.customer_id) == merge.merged_id)  # type: ignore[attr-defined]
            .values(customer_id=merge.survivor_id)
        )
    _move_offers(run, merge)
    _fill_profile(run, merge)
    # Keep aliases one hop deep: whoever was merged into the merged customer now
    # points at the survivor too.
    run(
        update(CustomerRow)
        .where(col(CustomerRow.merged_into) == merge.merged_id)
        .values(merged_into=merge.survivor_id)
    )
    run(
        update(CustomerRow)
        .where(col(CustomerRow.id) == merge.merged_id)
        .values(merged_into=merge.survivor_id)
    )
    run(
        insert(MergeRow).values(
            survivor_id=merge.survivor_id,
            merged_id=merge.merged_id,
            merged_at=merge.at,
            event_id=merge.event_id,
            actor=merge.actor,
            reason=merge.reason[:500],
        )
    )


def _move_offers(run: Run, merge: Merge) -> None:
    """The survivor's offer wins when both hold the same code."""
    held = {
        code
        for (code,) in run(
            select(col(OfferRow.code)).where(col(OfferRow.customer_id) == merge.survivor_id)
        )
    }
    if held:
        run(
            delete(OfferRow).where(
                col(OfferRow.customer_id) == merge.merged_id, col(OfferRow.code).in_(held)
            )
        )
    run(
        update(OfferRow)
        .where(col(OfferRow.customer_id) == merge.merged_id)
        .values(customer_id=merge.survivor_id)
    )


def _fill_profile(run: Run, merge: Merge) -> None:
    """The survivor keeps its own name, tier and language, and takes the merged
    customer's where it had none."""
    profiles = {
        r.id: r
        for r in run(
            select(
                col(CustomerRow.id),
                col(CustomerRow.display_name),
                col(CustomerRow.tier),
                col(CustomerRow.language),
            ).where(col(CustomerRow.id).in_([merge.survivor_id, merge.merged_id]))
        )
    }
    survivor, merged = profiles[merge.survivor_id], profiles[merge.merged_id]
    missing = {
        name: getattr(merged, name)
        for name in ("display_name", "language")
        if not getattr(survivor, name) and getattr(merged, name)
    }
    if survivor.tier == "standard" and merged.tier != "standard":
        missing["tier"] = merged.tier
    if missing:
        run(update(CustomerRow).where(col(CustomerRow.id) == merge.survivor_id).values(**missing))


def merges_into(run: Run, customer_id: str) -> list[Merge]:
    """Every merge that ended in this customer, including merges into a customer that
    was itself merged in later (its aliases point here: they are kept one hop deep)."""
    aliases = select(col(CustomerRow.id)).where(col(CustomerRow.merged_into) == customer_id)
    rows = run(
        select(MergeRow)
        .where(
            or_(col(MergeRow.survivor_id) == customer_id, col(MergeRow.survivor_id).in_(aliases))
        )
        .order_by(col(MergeRow.id))
    ).mappings()
    return [
        Merge(
            r["survivor_id"],
            r["merged_id"],
            utc(r["merged_at"]) or EPOCH,
            r["event_id"],
            r["actor"],
            r["reason"],
        )
        for r in rows
    ]


def identities_of(run: Run, customer_ids: Sequence[str]) -> dict[str, set[Identity]]:
    """Every identity each customer holds (customers holding none are absent)."""
    held: dict[str, set[Identity]] = {}
    rows = run(
        select(col(IdentityRow.customer_id), col(IdentityRow.kind), col(IdentityRow.value)).where(
            col(IdentityRow.customer_id).in_(list(customer_ids))
        )
    )
    for customer_id, kind, value in rows:
        held.setdefault(customer_id, set()).add(Identity(IdentityKind(kind), value))
    return held


def unlink(run: Run, identity: Identity, customer_id: str) -> bool:
    result = run(
        delete(IdentityRow).where(
            col(IdentityRow.kind) == identity.kind.value,
            col(IdentityRow.value) == identity.value,
            col(IdentityRow.customer_id) == customer_id,
        )
    )
    return bool(result.rowcount == 1)


def record_conflict(run: Run, conflict: IdentityConflict) -> None:
    identities = [[i.kind.value, i.value] for i in conflict.identities]
    run(
        insert(ConflictRow),
        [
            {
                "customer_id": customer_id,
                "event_id": conflict.event_id,
                "customer_ids": list(conflict.customer_ids),
                "identities": identities,
                "reason": conflict.reason.value,
                "at": conflict.at,
            }
            for customer_id in conflict.customer_ids
        ],
    )


def conflicts_of(run: Run, customer_id: str, limit: int) -> list[IdentityConflict]:
    rows = run(
        select(ConflictRow)
        .where(col(ConflictRow.customer_id) == customer_id)
        .order_by(col(ConflictRow.id).desc())
        .limit(limit)
    ).mappings()
    return [
        IdentityConflict(
            r["event_id"],
            tuple(r["customer_ids"]),
            tuple(Identity(IdentityKind(k), v) for k, v in r["identities"]),
            ConflictReason(r["reason"]),
            utc(r["at"]) or EPOCH,
        )
        for r in rows
    ]


def save_offers(run: Run, customer_id: str, offers: Sequence[Offer], now: datetime) -> None:
    latest = {o.code: o for o in offers}  # the last of a repeated code wins
    run(
        delete(OfferRow).where(
            col(OfferRow.customer_id) == customer_id, col(OfferRow.code).in_(list(latest))
        )
    )
    run(
        insert(OfferRow),
        [
            {
                "customer_id": customer_id,
                "code": o.code,
                "description": o.description,
                "expires_at": o.expires_at,
                "added_at": now,
            }
            for o in latest.values()
        ],
    )
