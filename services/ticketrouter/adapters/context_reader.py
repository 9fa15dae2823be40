"""Read the sources of many customers' context packets in a handful of queries:
one per list, each limited to the last N rows per customer with a window function,
so a batch of 500 decisions costs the same few round trips as one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlmodel import col

from ticketrouter.adapters import queries
from ticketrouter.adapters.orm import ContactRow, CustomerRow, OfferRow, TimelineRow
from ticketrouter.adapters.records import EPOCH, contact_from_row, utc
from ticketrouter.domain.cases import CaseStatus
from ticketrouter.domain.context import CaseRecord, ContextLimits, ContextSources, NoteSummary
from ticketrouter.domain.customers import Customer, Offer
from ticketrouter.domain.timeline import EntryKind

Run = Callable[..., Any]
_STATUSES = {s.value: s for s in CaseStatus}
_CHUNK = 500


def read_sources(
    run: Run, customer_ids: Sequence[str], limits: ContextLimits, now: datetime
) -> dict[str, ContextSources]:
    """Sources by requested id; an id merged away maps to its survivor's sources."""
    survivors = _survivors(run, customer_ids)
    sources: dict[str, ContextSources] = {}
    live = sorted(set(survivors.values()))
    for start in range(0, len(live), _CHUNK):
        chunk = live[start : start + _CHUNK]
        customers = _customers(run, chunk)
        cases = _grouped_cases(run, chunk, limits.cases)
        contacts = _group(
            contact_from_row(r) for r in run(_latest_contacts(chunk, limits.contacts)).mappings()
        )
        notes = _grouped_notes(run, chunk, limits.notes)
        offers = _active_offers(run, chunk, limits.offers, now)
        for customer_id in chunk:
            if customer_id in customers:
                sources[customer_id] = ContextSources(
                    customers[customer_id],
                    cases.get(customer_id, []),
                    contacts.get(customer_id, []),
                    notes.get(customer_id, []),
                    offers.get(customer_id, []),
                )
    return {
        requested: sources[survivor]
        for requested, survivor in survivors.items()
        if survivor in sources
    }


def _survivors(run: Run, customer_ids: Sequence[str]) -> dict[str, str]:
    ids = sorted(set(customer_ids))
    found: dict[str, str] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = run(
            select(col(CustomerRow.id), col(CustomerRow.merged_into)).where(
                col(CustomerRow.id).in_(ids[start : start + _CHUNK])
            )
        )
        found.update({customer_id: merged_into or customer_id for customer_id, merged_into in rows})
    return found


def _customers(run: Run, ids: Sequence[str]) -> dict[str, Customer]:
    rows = run(select(CustomerRow).where(col(CustomerRow.id).in_(ids))).mappings()
    return {r["id"]: Customer(r["id"], r["display_name"], r["tier"], r["language"]) for r in rows}


def _ranked(statement: Select[Any], partition: Any, order: Any) -> Any:
    """The statement's rows numbered within `partition`, most recent first."""
    rank = func.row_number().over(partition_by=partition, order_by=order).label("rank")
    return statement.add_columns(rank).subquery()


def _grouped_cases(run: Run, ids: Sequence[str], limit: int) -> dict[str, list[CaseRecord]]:
    """The latest open and the latest closed cases, separately: an old open case must
    not be crowded out by many recent resolved ones."""
    c = queries.cases
    is_open = case((c.c.status.in_(queries.OPEN_STATUSES), 1), else_=0)
    facts = select(
        c.c.customer_id,
        c.c.id,
        c.c.topic,
        c.c.status,
        c.c.owner_agent_id,
        c.c.opened_at,
        c.c.assigned_at,
        c.c.resolved_at,
        c.c.resolution_code,
        c.c.csat,
    ).where(c.c.customer_id.in_(ids))
    ranked = _ranked(facts, (c.c.customer_id, is_open), c.c.opened_at.desc())
    grouped: dict[str, list[CaseRecord]] = {}
    for r in run(select(ranked).where(ranked.c.rank <= limit)):
        grouped.setdefault(r.customer_id, []).append(
            CaseRecord(
                r.id,
                r.topic,
                _STATUSES[r.status],
                r.owner_agent_id,
                utc(r.opened_at) or EPOCH,
                utc(r.assigned_at),
                utc(r.resolved_at),
                r.resolution_code,
                r.csat,
            )
        )
    return grouped


def _latest_contacts(ids: Sequence[str], limit: int) -> Select[Any]:
    t = ContactRow.__table__  # type: ignore[attr-defined]
    ranked = _ranked(
        select(t).where(t.c.customer_id.in_(ids)), t.c.customer_id, t.c.occurred_at.desc()
    )
    return select(ranked).where(ranked.c.rank <= limit)


def _grouped_notes(run: Run, ids: Sequence[str], limit: int) -> dict[str, list[NoteSummary]]:
    t = TimelineRow.__table__  # type: ignore[attr-defined]
    ranked = _ranked(
        select(t.c.customer_id, t.c.case_id, t.c.at, t.c.detail).where(
            t.c.customer_id.in_(ids), t.c.kind == EntryKind.NOTE.value
        ),
        t.c.customer_id,
        (t.c.at.desc(), t.c.id.desc()),
    )
    rows = run(select(ranked).where(ranked.c.rank <= limit))
    notes: dict[str, list[NoteSummary]] = {}
    for r in rows:
        notes.setdefault(r.customer_id, []).append(
            NoteSummary(r.case_id, utc(r.at) or EPOCH, r.detail)
        )
    return notes


def _active_offers(
    run: Run, ids: Sequence[str], limit: int, now: datetime
) -> dict[str, list[Offer]]:
    t = OfferRow.__table__  # type: ignore[attr-defined]
    live = or_(t.c.expires_at.is_(None), t.c.expires_at > now)
    ranked = _ranked(
        select(t).where(t.c.customer_id.in_(ids), live), t.c.customer_id, t.c.added_at.desc()
    )
    rows = run(select(ranked).where(ranked.c.rank <= limit)).mappings()
    offers: dict[str, list[Offer]] = {}
    for r in rows:
        offers.setdefault(r["customer_id"], []).append(
            Offer(r["code"], r["description"], utc(r["expires_at"]))
        )
    return offers


def _group(items: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for item in items:
        grouped.setdefault(item.customer_id, []).append(item)
    return grouped
